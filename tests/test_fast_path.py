"""The fast path answers the list's 304s and cached pages before Flask, exactly as Flask would.

Each test compares the fast path's answer (through the app, as a server calls it) with the
answer of the Flask app alone (the WSGI app the fast path wraps, called directly), and counts
which requests reached Flask at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import THREAD, approve, make_app, post_comment
from werkzeug.exceptions import NotFound
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import RequestRedirect
from werkzeug.test import Client, TestResponse

from moderation import approved, database
from moderation.public import fast_path
from moderation.public.fast_path import LIST_PATH, FastPath, page_params

LIST = f"{THREAD}/comments"


@dataclass
class Spy:
    """What reached Flask (method and path), and a client of Flask alone."""

    flask: Client
    calls: list[str] = field(default_factory=list)


@pytest.fixture
def spy(app: Flask) -> Iterator[Spy]:
    fast = app.wsgi_app
    assert isinstance(fast, FastPath)
    inner = fast.app
    spy = Spy(Client(inner))

    def counting(environ: dict, start_response: Any) -> Any:
        spy.calls.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        return inner(environ, start_response)

    fast.app = counting
    yield spy
    fast.app = inner


def whole(response: TestResponse) -> tuple[str, list[tuple[str, str]], bytes]:
    """Everything a client gets: the status line, the headers in order, the body."""
    return response.status, list(response.headers), response.data


def approved_comments(client: FlaskClient, n: int) -> list[int]:
    ids = [post_comment(client, body=f"Beitrag {i}.").get_json()["id"] for i in range(n)]
    for comment_id in ids:
        approve(client, comment_id)
    return ids


# --- what the fast path answers ----------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?limit=2",
        "?after=0",
        "?limit=1&after=1",
        "?after=1",
        "?sort=newest",
        "?sort=featured&limit=1",
        "?sort=oldest&after=1",
    ],
)
def test_a_cached_page_is_answered_before_flask_as_flask_answers_it(
    client: FlaskClient, spy: Spy, query: str
) -> None:
    approved_comments(client, 3)
    spy.calls.clear()
    first = client.get(LIST + query)  # a miss: Flask builds the page and caches it
    assert first.status_code == 200 and spy.calls == [f"GET {LIST}"]
    fast = client.get(LIST + query)
    assert spy.calls == [f"GET {LIST}"]  # Flask was not entered
    assert whole(fast) == whole(first) == whole(spy.flask.get(LIST + query))
    assert fast.headers["Content-Type"] == "application/json"
    assert fast.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    "if_none_match",
    ["{etag}", 'W/"x", {etag}', '"x",{etag} , "y"', "*"],
    ids=["exact", "in-a-list", "list-without-spaces", "star"],
)
def test_a_matching_etag_gets_304_before_flask_as_from_flask(
    client: FlaskClient, spy: Spy, if_none_match: str
) -> None:
    approved_comments(client, 1)
    etag = spy.flask.get(LIST).headers["ETag"]
    approved.page_cache(client.application)._pages.clear()  # a 304 needs no page
    spy.calls.clear()
    headers = {"If-None-Match": if_none_match.format(etag=etag)}
    fast = client.get(LIST, headers=headers)
    assert fast.status_code == 304 and spy.calls == []
    assert whole(fast) == whole(spy.flask.get(LIST, headers=headers))
    assert fast.headers["ETag"] == etag and fast.data == b""
    assert len(approved.page_cache(client.application)) == 0  # no comment was loaded


def test_an_article_nobody_commented_on_yet_is_answered_too(client: FlaskClient, spy: Spy) -> None:
    new = "/api/v1/sites/demo/articles/noch-leer/comments"
    etag = client.get(new).headers["ETag"]
    spy.calls.clear()
    fast = client.get(new, headers={"If-None-Match": etag})
    cached = client.get(new)
    assert (fast.status_code, cached.status_code, spy.calls) == (304, 200, [])
    assert cached.get_json() == {"comments": [], "count": 0, "next": None}
    assert whole(cached) == whole(spy.flask.get(new))


def test_a_weak_or_other_etag_gets_the_page_as_from_flask(client: FlaskClient, spy: Spy) -> None:
    approved_comments(client, 1)
    etag = client.get(LIST).headers["ETag"]  # now cached
    spy.calls.clear()
    for if_none_match in (f"W/{etag}", '"0.50.0"', "nonsense", ""):
        headers = {"If-None-Match": if_none_match}
        fast = client.get(LIST, headers=headers)
        assert fast.status_code == 200  # werkzeug's rule: a weak tag does not match a GET
        assert whole(fast) == whole(spy.flask.get(LIST, headers=headers))
    assert spy.calls == []


def test_the_state_ttl_holds_in_the_fast_path(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.config["LIST_STATE_TTL"] = 3600
    approve(client, post_comment(client).get_json()["id"])
    etag = client.get(LIST).headers["ETag"]
    queries: list[tuple] = []
    original = database.read_one

    def counting(*args: Any) -> tuple | None:
        queries.append(args)
        return original(*args)

    monkeypatch.setattr(database, "read_one", counting)
    assert client.get(LIST, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(LIST).status_code == 200
    assert queries == []  # both from the state this worker read less than the TTL ago


# --- what it leaves to Flask -------------------------------------------------------------------


def test_a_cache_miss_goes_to_flask_then_the_next_request_does_not(
    client: FlaskClient, spy: Spy
) -> None:
    approved_comments(client, 2)
    approved.page_cache(client.application)._pages.clear()
    spy.calls.clear()
    miss = client.get(f"{LIST}?limit=1")
    assert spy.calls == [f"GET {LIST}"]
    hit = client.get(f"{LIST}?limit=1")
    assert spy.calls == [f"GET {LIST}"]
    assert whole(hit) == whole(miss)
    assert hit.get_json()["next"] is not None


def test_a_decision_gives_a_new_etag_and_the_old_one_gets_the_new_list(
    client: FlaskClient, spy: Spy
) -> None:
    (first,) = approved_comments(client, 1)
    old = client.get(LIST)
    late = post_comment(client, body="Später.").get_json()["id"]
    assert client.get(LIST, headers={"If-None-Match": old.headers["ETag"]}).status_code == 304
    approve(client, late)  # bumps the article's version
    spy.calls.clear()
    fresh = client.get(LIST, headers={"If-None-Match": old.headers["ETag"]})
    assert fresh.status_code == 200 and spy.calls == [f"GET {LIST}"]  # new version: a miss
    assert [c["id"] for c in fresh.get_json()["comments"]] == [first, late]
    assert fresh.headers["ETag"] != old.headers["ETag"]
    again = client.get(LIST, headers={"If-None-Match": old.headers["ETag"]})
    assert whole(again) == whole(fresh) and spy.calls == [f"GET {LIST}"]
    not_modified = client.get(LIST, headers={"If-None-Match": fresh.headers["ETag"]})
    assert not_modified.status_code == 304 and spy.calls == [f"GET {LIST}"]


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("/api/v1/sites/nirgends/articles/a/comments", 404, "unknown_site"),
        (f"{LIST}?limit=0", 400, "invalid"),
        (f"{LIST}?limit=201", 400, "invalid"),
        (f"{LIST}?limit=abc", 400, "invalid"),
        (f"{LIST}?after=-1", 400, "invalid"),
        (f"{LIST}?after=2147483648", 400, "invalid"),
        ("/api/v1/sites/demo/articles/-minus/comments", 400, "invalid_article"),
        ("/api/v1/sites/demo/articles/a//b/comments", 400, "invalid_article"),
        (f"/api/v1/sites/demo/articles/{'a' * 201}/comments", 400, "invalid_article"),
    ],
)
def test_errors_are_flasks(
    client: FlaskClient, spy: Spy, path: str, status: int, error: str
) -> None:
    approved_comments(client, 1)
    client.get(LIST)  # something is cached, so nothing but the error stops the fast path
    spy.calls.clear()
    for headers in ({}, {"If-None-Match": "*"}):
        response = client.get(path, headers=headers)
        assert response.status_code == status
        assert response.get_json()["error"] == error
        assert whole(response) == whole(spy.flask.get(path, headers=headers))
    assert len(spy.calls) == 2


@pytest.mark.parametrize(
    "query",
    ["?limit=%31", "?limit=", "?lang=de", "?limit=1&limit=2", "?limit=+1", "?after=1&x", "?&"],
)
def test_odd_but_valid_queries_are_left_to_flask(client: FlaskClient, spy: Spy, query: str) -> None:
    approved_comments(client, 2)
    client.get(LIST)
    client.get(f"{LIST}?limit=1")
    spy.calls.clear()
    response = client.get(LIST + query)
    assert response.status_code == 200 and spy.calls == [f"GET {LIST}"]
    assert whole(response) == whole(spy.flask.get(LIST + query))


def test_head_options_and_post_go_to_flask(client: FlaskClient, spy: Spy) -> None:
    approved_comments(client, 1)
    etag = client.get(LIST).headers["ETag"]
    spy.calls.clear()
    head = client.head(LIST)
    assert head.status_code == 200 and head.data == b"" and head.headers["ETag"] == etag
    assert client.head(LIST, headers={"If-None-Match": etag}).status_code == 304
    origin = {"Origin": "https://news.example"}
    assert client.options(LIST, headers=origin).status_code == 204
    assert post_comment(client, headers=origin).status_code == 202
    assert spy.calls == [f"HEAD {LIST}", f"HEAD {LIST}", f"OPTIONS {LIST}", f"POST {LIST}"]


def test_other_paths_go_to_flask(client: FlaskClient, spy: Spy) -> None:
    approved_comments(client, 1)
    client.get(LIST)
    spy.calls.clear()
    for path in (f"{LIST}/", f"{THREAD}/form-token", "/api/v1/sites/demo/counts/"):
        client.get(path)
    assert len(spy.calls) == 3


def test_an_exception_in_the_fast_path_leaves_the_request_to_flask(
    client: FlaskClient, spy: Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    approved_comments(client, 1)
    etag = client.get(LIST).headers["ETag"]
    spy.calls.clear()

    def broken(value: str) -> None:
        raise RuntimeError("broken")

    monkeypatch.setattr(fast_path, "parse_etags", broken)
    response = client.get(LIST, headers={"If-None-Match": etag})
    assert response.status_code == 304 and spy.calls == [f"GET {LIST}"]


# --- counts ------------------------------------------------------------------------------------

COUNTS = "/api/v1/sites/demo/counts?article=politik/2026/russland-usa&article=b&article=a"


def without_date(response: TestResponse) -> tuple[str, list[tuple[str, str]], bytes]:
    """:func:`whole`, less the ``Date`` that werkzeug's make_conditional adds (it may tick)."""
    status, headers, body = whole(response)
    return status, [(name, value) for name, value in headers if name != "Date"], body


def test_counts_are_answered_before_flask_as_flask_answers_them(
    client: FlaskClient, spy: Spy
) -> None:
    approved_comments(client, 2)
    spy.calls.clear()
    fast = client.get(COUNTS)
    assert spy.calls == []
    assert fast.get_json() == {"counts": {"a": 0, "b": 0, "politik/2026/russland-usa": 2}}
    assert without_date(fast) == without_date(spy.flask.get(COUNTS))
    assert "Date" in fast.headers


@pytest.mark.parametrize("weak", [False, True])
def test_counts_304_before_flask_as_from_flask(client: FlaskClient, spy: Spy, weak: bool) -> None:
    approved_comments(client, 1)
    etag = client.get(COUNTS).headers["ETag"]
    spy.calls.clear()
    headers = {"If-None-Match": f"W/{etag}" if weak else etag}  # make_conditional: weak match
    fast = client.get(COUNTS, headers=headers)
    assert fast.status_code == 304 and spy.calls == []
    assert without_date(fast) == without_date(spy.flask.get(COUNTS, headers=headers))
    other = client.get(COUNTS, headers={"If-None-Match": '"x"'})
    assert other.status_code == 200 and spy.calls == []


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("", {}),  # no article: 400
        ("?article=", {}),
        ("?article=a&other=1", {}),
        ("?article=a%2Fb", {}),  # encoded: Flask decodes it
        ("?article=a+b", {}),
        ("?article=a&&article=b", {}),
        ("?article=-minus", {}),  # invalid key: 400
        ("?" + "&".join(f"article=a{i}" for i in range(201)), {}),  # too many: 400
        ("?article=a", {"If-Match": '"x"'}),  # other conditions: werkzeug's rules
        ("?article=a", {"If-Modified-Since": "Mon, 30 Nov 2026 10:00:00 GMT"}),
        ("?article=a", {"Range": "bytes=0-1"}),
    ],
)
def test_counts_requests_out_of_the_ordinary_are_flasks(
    client: FlaskClient, spy: Spy, query: str, headers: dict[str, str]
) -> None:
    path = f"/api/v1/sites/demo/counts{query}"
    response = client.get(path, headers=headers)
    assert spy.calls == ["GET /api/v1/sites/demo/counts"]
    assert without_date(response) == without_date(spy.flask.get(path, headers=headers))


def test_counts_of_an_unknown_site_are_flasks(client: FlaskClient, spy: Spy) -> None:
    response = client.get("/api/v1/sites/nirgends/counts?article=a")
    assert response.status_code == 404 and spy.calls == ["GET /api/v1/sites/nirgends/counts"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("article=a", ["a"]),
        ("article=a/b.c~d_e-f&article=a", ["a/b.c~d_e-f", "a"]),
        ("", None),
        ("article=", None),
        ("article=a&limit=1", None),
        ("article=%61", None),
        ("article=a&", None),
        ("article=a&article=b&article=c", None),  # more than 2
    ],
)
def test_article_keys(query: str, expected: list[str] | None) -> None:
    assert fast_path.article_keys(query, 2) == expected


# --- the fast path agrees with Flask's routing and parameters ------------------------------


@pytest.mark.parametrize(
    "path",
    [
        LIST,
        "/api/v1/sites/demo/articles/a/comments",
        "/api/v1/sites/demo/articles/a/comments/comments",
        "/api/v1/sites/demo/articles/a/form-token/comments",
        "/api/v1/sites/de mo/articles/a.b~c_d-e/comments",
        "/api/v1/sites/demo/articles/a/comments/",
        "/api/v1/sites/demo/articles//comments",
        "/api/v1/sites//articles/a/comments",
        "/api/v1/sites/demo/articles/a/form-token",
        "/api/v1/sites/demo/counts",
        "/api/v2/sites/demo/articles/a/comments",
        "//api/v1/sites/demo/articles/a/comments",
    ],
)
def test_the_url_pattern_matches_only_what_flask_routes_to_the_list(app: Flask, path: str) -> None:
    """Where the pattern matches, Flask routes to the list view with the same arguments.

    The other way round is allowed to differ: a path Flask also routes to the list (werkzeug
    ignores extra leading slashes) that the pattern misses simply goes to Flask.
    """
    adapter = app.url_map.bind("localhost")
    try:
        endpoint, args = adapter.match(path, method="GET")
    except (NotFound, RequestRedirect):
        endpoint, args = None, {}
    match = LIST_PATH.fullmatch(path)
    if match is not None:
        assert endpoint == "api.list_comments"
        assert match.groups() == (args["site"], args["article"])
    else:
        assert path.startswith("//") or endpoint != "api.list_comments"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", (50, None, "oldest")),
        ("limit=7", (7, None, "oldest")),
        ("after=0", (50, 0, "oldest")),
        ("after=12&limit=200", (200, 12, "oldest")),
        ("limit=007", (7, None, "oldest")),
        ("after=2147483647", (50, 2147483647, "oldest")),
        ("sort=newest", (50, None, "newest")),
        ("sort=featured&after=3", (50, 3, "featured")),
        ("sort=oldest&limit=2", (2, None, "oldest")),
        ("sort=best", None),
        ("sort=", None),
        ("sort=newest&sort=newest", None),
        ("sort=featured&after=-3", None),
        ("limit=0", None),
        ("limit=201", None),
        ("after=2147483648", None),
        ("after=99999999999", None),
        ("limit=", None),
        ("limit=1&limit=1", None),
        ("limit=%31", None),
        ("limit=-1", None),
        ("other=1", None),
        ("limit=1&", None),
        ("limit", None),
        ("limit=١", None),
    ],
)
def test_page_params(query: str, expected: tuple | None) -> None:
    assert page_params(query, 50, 200) == expected


def test_the_fast_path_is_outermost_even_behind_proxies(database_url: str, tmp_path: Path) -> None:
    app = make_app(database_url, tmp_path, TRUSTED_PROXIES=1)
    assert isinstance(app.wsgi_app, FastPath)
    assert isinstance(app.wsgi_app.app, ProxyFix)
