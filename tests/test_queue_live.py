"""The shared queue (issue 13): the polled state with its ETag, claims, refused conflicting
decisions, bulk decisions over stale cards, the queue's orders and reason filter, and an admin's
"approve all matching". Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import THREAD, comment_numbered, make_app, post_comment, snapshot
from moderator_ui import csrf_token, log_in, logged_in, post

from moderation import review
from moderation.extensions import db
from moderation.models import Comment, CommentClaim, CommentStatus, ModerationEvent, utcnow

STATE = "/moderate/queue/state"
JSON = {"Accept": "application/json"}
CARD = re.compile(r'<li class="card[^"]*" id="c(\d+)"')


@pytest.fixture
def mona(app: Flask) -> FlaskClient:
    return logged_in(app, "mona")


@pytest.fixture
def bob(app: Flask) -> FlaskClient:
    return logged_in(app, "bob")


def _comments(client: FlaskClient, count: int, thread: str = THREAD) -> list[int]:
    return [
        post_comment(client, thread, body=f"Kommentar {n}").get_json()["id"] for n in range(count)
    ]


def _events(app: Flask, comment_id: int | None = None) -> list[ModerationEvent]:
    with app.app_context():
        query = db.select(ModerationEvent).order_by(ModerationEvent.id)
        if comment_id is not None:
            query = query.where(ModerationEvent.comment_id == comment_id)
        events = list(db.session.scalars(query))
        db.session.expunge_all()
        return events


def _status(app: Flask, comment_id: int) -> CommentStatus:
    with app.app_context():
        return db.session.get(Comment, comment_id).status


def _set_reasons(app: Flask, reasons: dict[int, list[str]]) -> None:
    with app.app_context():
        for comment_id, codes in reasons.items():
            db.session.get(Comment, comment_id).reasons = codes
        db.session.commit()


def _state(client: FlaskClient, shown: list[int], since: int = 0, **args: str):
    query = {"shown": ",".join(map(str, shown)), "since": str(since)} | args
    return client.get(STATE, query_string=query, headers=JSON)


def _decide(client: FlaskClient, comment_id: int, decision: str, **data: str):
    return post(client, f"/moderate/comments/{comment_id}/{decision}", data, headers=JSON)


# --- the polled state ---------------------------------------------------------------------


def test_state_answers_304_until_something_changes(
    app: Flask, client: FlaskClient, mona: FlaskClient, bob: FlaskClient
) -> None:
    first, second = _comments(client, 2)
    response = _state(mona, [first, second], since=second)
    assert response.status_code == 200
    body = response.get_json()
    assert body["pending"] == 2
    assert body["still"] == [first, second]
    assert body["gone"] == [] and body["new"] == [] and body["claims"] == []
    etag = response.headers["ETag"]
    assert response.headers["Cache-Control"] == "no-store"

    again = mona.get(
        STATE,
        query_string={"shown": f"{first},{second}", "since": str(second)},
        headers=JSON | {"If-None-Match": etag},
    )
    assert again.status_code == 304 and again.data == b""

    # A new comment changes the state: it is handed out with its card, rendered.
    third = _comments(client, 1)[0]
    fresh = mona.get(
        STATE,
        query_string={"shown": f"{first},{second}", "since": str(second)},
        headers=JSON | {"If-None-Match": etag},
    )
    assert fresh.status_code == 200
    body = fresh.get_json()
    assert [item["id"] for item in body["new"]] == [third]
    assert CARD.findall(body["new"][0]["html"]) == [str(third)]
    assert 'name="version" value="0"' in body["new"][0]["html"]
    # The next poll starts above second, not third: a comment numbered between them could
    # still turn up (see test_a_comment_that_turns_up_late_is_still_handed_out).
    assert body["since"] == second and body["pending"] == 3

    # Bob decides the first: it is gone from Mona's view, and she is told who did it.
    assert _decide(bob, first, "approve", version="0").status_code == 200
    body = _state(mona, [first, second, third], since=third).get_json()
    assert body["still"] == [second, third]
    assert [g["id"] for g in body["gone"]] == [first]
    assert re.fullmatch(
        rf"#{first}: bob approved this comment at \d{{1,2}}:\d\d(\s?[AP]M)?\.",
        body["gone"][0]["message"],
    )
    assert body["pending"] == 2
    # Bob's own decision is no news to Bob.
    assert _state(bob, [first], since=third).get_json()["gone"] == [{"id": first, "message": None}]


def _new(response) -> list[int]:
    return [item["id"] for item in response.get_json()["new"]]


def test_a_comment_that_turns_up_late_is_still_handed_out(
    app: Flask, client: FlaskClient, mona: FlaskClient
) -> None:
    (first,) = _comments(client, 1)
    # Numbers far above the sequence's, so that later submissions cannot meet them.
    comment_numbered(app, 1002)
    body = _state(mona, [first], since=first).get_json()
    assert [item["id"] for item in body["new"]] == [1002]
    assert body["since"] == first  # 1002 is seconds old: lower numbers may still come
    # 1001 drew its number before 1002 and commits after the poll.
    comment_numbered(app, 1001)
    late = _state(mona, [first], since=body["since"], heard="1002")
    assert _new(late) == [1001]  # and 1002, heard of already, is not handed out again
    assert late.get_json()["new_message"] == "1 new comment: reload to see it."
    # On screen counts as heard of too.
    assert _new(_state(mona, [first, 1001, 1002], since=first)) == []


def test_a_late_comment_changes_the_etag_when_nothing_else_does(
    app: Flask, client: FlaskClient, mona: FlaskClient
) -> None:
    """Not pending (so the pending count stays), numbered below the highest: only the count of
    comments above ``since`` tells."""
    (first,) = _comments(client, 1)
    comment_numbered(app, 1002)
    query = {"shown": str(first), "since": str(first), "heard": "1002", "status": "all"}
    etag = mona.get(STATE, query_string=query, headers=JSON).headers["ETag"]
    comment_numbered(app, 1001, CommentStatus.SPAM)
    again = mona.get(STATE, query_string=query, headers=JSON | {"If-None-Match": etag})
    assert again.status_code == 200
    assert _new(again) == [1001]


def test_the_next_poll_starts_above_comments_older_than_a_few_seconds(
    app: Flask, client: FlaskClient, mona: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moderation import shared_queue

    first, second = _comments(client, 2)
    assert _state(mona, [], since=0).get_json()["since"] == 0
    later = utcnow() + shared_queue.SETTLE + timedelta(seconds=1)
    monkeypatch.setattr(shared_queue, "utcnow", lambda: later)
    body = _state(mona, [], since=0).get_json()
    assert body["since"] == second
    assert _new(_state(mona, [], since=second)) == []
    # The queue page starts listening there too.
    page = mona.get("/moderate/")
    assert f'data-since="{second}"' in page.get_data(as_text=True)


@pytest.mark.parametrize("heard", ["1,x", ",".join(str(n) for n in range(1, 202)), "-3"])
def test_bad_heard_lists_are_refused(
    app: Flask, client: FlaskClient, mona: FlaskClient, heard: str
) -> None:
    _comments(client, 1)
    before = snapshot(app)
    response = mona.get(STATE, query_string={"heard": heard}, headers=JSON)
    assert response.status_code == 400
    assert snapshot(app) == before


def test_state_follows_the_filter(app: Flask, client: FlaskClient, mona: FlaskClient) -> None:
    old = _comments(client, 1)[0]
    other = _comments(client, 1, "/api/v1/sites/demo/articles/wirtschaft")[0]
    mine = _comments(client, 1)[0]
    _set_reasons(app, {mine: ["links"]})
    body = _state(mona, [], since=old, reason="links").get_json()
    assert [item["id"] for item in body["new"]] == [mine]
    assert other not in [item["id"] for item in body["new"]]
    # In the list of every status, a decided card stays.
    mona_post = _decide(mona, old, "reject", ground="other")
    assert mona_post.status_code == 200
    assert _state(mona, [old], since=mine, status="all").get_json()["still"] == [old]


def test_state_in_german(
    app: Flask, client: FlaskClient, mona: FlaskClient, bob: FlaskClient
) -> None:
    first = _comments(client, 1)[0]
    _decide(bob, first, "spam")
    body = mona.get(
        STATE,
        query_string={"shown": str(first), "since": str(first)},
        headers=JSON | {"Accept-Language": "de"},
    ).get_json()
    assert re.fullmatch(
        rf"#{first}: bob hat diesen Kommentar um \d\d:\d\d als Spam markiert\.",
        body["gone"][0]["message"],
    )


@pytest.mark.parametrize(
    "args",
    [
        {"shown": "1,x"},
        {"shown": "1,,2"},
        {"shown": ",".join(str(n) for n in range(1, 202))},
        {"shown": "١"},
        {"since": "-1"},
        {"since": "9" * 30},
        {"sort": "newest"},
        {"reason": "Links; DROP"},
        {"status": "gone"},
        {"article": "x"},
        {"q": "x" * 201},
    ],
)
def test_bad_state_requests_are_refused(
    app: Flask, client: FlaskClient, mona: FlaskClient, args: dict[str, str]
) -> None:
    _comments(client, 1)
    before = snapshot(app)
    response = mona.get(STATE, query_string=args, headers=JSON)
    assert response.status_code == 400
    assert snapshot(app) == before


def test_state_needs_a_moderator(app: Flask, client: FlaskClient) -> None:
    response = client.get(STATE, headers=JSON)
    assert response.status_code == 302
    assert "/moderate/login" in response.headers["Location"]


# --- claims ----------------------------------------------------------------------------------


def _claim(client: FlaskClient, comment_id: int, token: str | None = None):
    headers = JSON | ({"X-CSRFToken": token} if token else {})
    return client.post(f"/moderate/comments/{comment_id}/claim", headers=headers)


def test_claims_show_to_the_others_until_they_run_out(
    app: Flask, client: FlaskClient, mona: FlaskClient, bob: FlaskClient
) -> None:
    first, second = _comments(client, 2)
    etag = _state(mona, [first, second], since=second).headers["ETag"]

    response = _claim(bob, first, csrf_token(bob, "/moderate/"))
    assert response.status_code == 200
    assert response.get_json()["seconds"] == app.config["QUEUE_CLAIM_SECONDS"] == 120

    seen = mona.get(
        STATE,
        query_string={"shown": f"{first},{second}", "since": str(second)},
        headers=JSON | {"If-None-Match": etag},
    )
    assert seen.status_code == 200  # a claim is news
    assert seen.get_json()["claims"] == [
        {"id": first, "who": "bob", "mine": False, "message": "bob is looking at this"}
    ]
    german = mona.get(
        STATE,
        query_string={"shown": str(first)},
        headers=JSON | {"Accept-Language": "de"},
    ).get_json()
    assert german["claims"][0]["message"] == "bob sieht sich das gerade an"
    assert _state(bob, [first]).get_json()["claims"][0]["mine"] is True

    # A later focus by Mona takes the card over: one row per comment.
    assert _claim(mona, first, csrf_token(mona, "/moderate/")).status_code == 200
    assert _state(bob, [first]).get_json()["claims"][0]["who"] == "mona"
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(CommentClaim)) == 1
        # … until it runs out.
        db.session.get(CommentClaim, first).until = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert _state(bob, [first]).get_json()["claims"] == []


def test_bad_claims_change_nothing(app: Flask, client: FlaskClient, mona: FlaskClient) -> None:
    first = _comments(client, 1)[0]
    token = csrf_token(mona, "/moderate/")
    before = snapshot(app)
    assert _claim(mona, first).status_code == 400  # no CSRF token
    assert _claim(mona, first, "forged").status_code == 400
    assert _claim(mona, 999, token).status_code == 404
    assert _claim(mona, 2**40, token).status_code == 404
    assert mona.get(f"/moderate/comments/{first}/claim").status_code == 405
    assert client.post(f"/moderate/comments/{first}/claim").status_code in (302, 400)
    assert snapshot(app) == before


# --- conflicts ---------------------------------------------------------------------------


def test_a_conflicting_decision_is_refused_and_records_nothing(
    app: Flask, client: FlaskClient, mona: FlaskClient, bob: FlaskClient
) -> None:
    comment = _comments(client, 1)[0]
    page = mona.get("/moderate/").get_data(as_text=True)
    assert 'name="version" value="0"' in page  # as Mona saw it

    assert _decide(bob, comment, "approve", version="0").status_code == 200
    [event] = _events(app, comment)

    refused = _decide(mona, comment, "reject", ground="insult", version="0", note="Beleidigung")
    assert refused.status_code == 409
    body = refused.get_json()
    assert body["error"] == "decided_meanwhile"
    assert re.fullmatch(r"bob approved this comment at \d{1,2}:\d\d(\s?[AP]M)?\.", body["message"])
    assert body["status"] == "approved" and body["version"] == event.id
    assert [e.id for e in _events(app, comment)] == [event.id]  # no second event
    assert _status(app, comment) == "approved"

    # Without JavaScript: the error page, in German, says the same.
    plain = post(
        mona,
        f"/moderate/comments/{comment}/spam",
        {"version": "0"},
        headers={"Accept-Language": "de"},
    )
    assert plain.status_code == 409
    assert re.search(
        r"bob hat diesen Kommentar um \d\d:\d\d freigegeben\.", plain.get_data(as_text=True)
    )
    assert [e.id for e in _events(app, comment)] == [event.id]

    # Revising is an explicit act: from the comment's page, which shows the current version.
    history = mona.get(f"/moderate/comments/{comment}").get_data(as_text=True)
    assert f'name="version" value="{event.id}"' in history
    again = _decide(mona, comment, "reject", ground="insult", version=str(event.id))
    assert again.status_code == 200
    assert [e.to_status for e in _events(app, comment)] == ["approved", "rejected"]


def test_a_withdrawal_meanwhile_is_named(
    app: Flask, client: FlaskClient, mona: FlaskClient
) -> None:
    sent = post_comment(client).get_json()
    client.delete(f"/api/v1/comments/{sent['id']}", headers={"X-Comment-Token": sent["token"]})
    refused = _decide(mona, sent["id"], "approve", version="0")
    assert refused.status_code == 409
    assert refused.get_json()["message"].startswith("The author withdrew this comment at ")


@pytest.mark.parametrize("version", ["x", "-1", "1.5", "١", "9" * 30, ""])
def test_bad_versions_change_nothing(
    app: Flask, client: FlaskClient, mona: FlaskClient, version: str
) -> None:
    comment = _comments(client, 1)[0]
    before = snapshot(app)
    response = _decide(mona, comment, "approve", version=version)
    assert response.status_code == 400
    assert snapshot(app) == before


def test_bulk_leaves_cards_changed_meanwhile(
    app: Flask, client: FlaskClient, mona: FlaskClient, bob: FlaskClient
) -> None:
    first, second, third = _comments(client, 3)
    _decide(bob, second, "reject", ground="other", version="0")
    [bobs] = _events(app, second)
    response = post(
        mona,
        "/moderate/bulk",
        {
            "ids": [str(first), str(second), str(third)],
            "decision": "approve",
            f"version-{first}": "0",
            f"version-{second}": "0",
            f"version-{third}": "0",
        },
        headers=JSON,
    )
    body = response.get_json()
    assert body["changed"] == [first, third]
    assert body["stale"] == [second]
    assert f"#{second}" in body["message"] and "someone else" in body["message"]
    assert _status(app, second) == "rejected"
    assert [e.id for e in _events(app, second)] == [bobs.id]
    # A bad version in a bulk form is refused whole.
    before = snapshot(app)
    bad = post(
        mona,
        "/moderate/bulk",
        {"ids": [str(second)], "decision": "spam", f"version-{second}": "x"},
        headers=JSON,
    )
    assert bad.status_code == 400
    assert snapshot(app) == before


# --- orders and the reason filter -----------------------------------------------------------


def _cards(client: FlaskClient, **args: str) -> list[int]:
    response = client.get("/moderate/", query_string=args)
    assert response.status_code == 200, response.get_data(as_text=True)
    return [int(i) for i in CARD.findall(response.get_data(as_text=True))]


def test_orders_and_reason_filter(app: Flask, client: FlaskClient, mona: FlaskClient) -> None:
    quiet = "/api/v1/sites/demo/articles/quiet"
    busy = "/api/v1/sites/demo/articles/busy"
    plain, watched = _comments(client, 2, quiet)
    banned, blocked, links = _comments(client, 3, busy)
    _set_reasons(
        app,
        {
            watched: ["watched_word:mist"],
            banned: ["banned"],
            blocked: ["links", "blocked_word:idiot"],
            links: ["links"],
        },
    )
    assert _cards(mona) == [plain, watched, banned, blocked, links]  # oldest first
    assert _cards(mona, sort="oldest") == [plain, watched, banned, blocked, links]
    assert _cards(mona, sort="attention") == [banned, blocked, watched, plain, links]
    assert _cards(mona, sort="article") == [banned, blocked, links, plain, watched]
    assert _cards(mona, reason="links") == [blocked, links]
    assert _cards(mona, reason="blocked_word") == [blocked]
    assert _cards(mona, reason="blocked") == []  # a code, not a prefix of one
    assert _cards(mona, reason="links", sort="article") == [blocked, links]

    page = mona.get("/moderate/").get_data(as_text=True)
    offered = re.findall(
        r'<option value="([a-z_]+)"', page.split('name="reason"')[1].split("</select>")[0]
    )
    assert offered == ["banned", "blocked_word", "links", "no_token", "watched_word"]


def test_only_the_default_order_pages(app: Flask, client: FlaskClient, mona: FlaskClient) -> None:
    app.config["QUEUE_PAGE_SIZE"] = 2
    ids = _comments(client, 3)
    page = mona.get("/moderate/").get_data(as_text=True)
    after = re.search(r'after=([0-9.]+)"', page)
    assert after
    assert _cards(mona, after=after.group(1)) == [ids[2]]
    bounded = mona.get("/moderate/", query_string={"sort": "attention"}).get_data(as_text=True)
    assert 'id="next-page"' not in bounded
    assert "This order shows the first 2 comments" in bounded
    refused = mona.get("/moderate/", query_string={"sort": "article", "after": after.group(1)})
    assert refused.status_code == 400


@pytest.mark.parametrize("args", [{"sort": "best"}, {"reason": "ÄÖ"}, {"reason": "x" * 41}])
def test_bad_orders_and_reasons(app: Flask, mona: FlaskClient, args: dict[str, str]) -> None:
    assert mona.get("/moderate/", query_string=args).status_code == 400


# --- approve all matching ------------------------------------------------------------------


def test_approve_all_matching(app: Flask, client: FlaskClient) -> None:
    anna = logged_in(app, "anna", admin=True)
    ids = _comments(client, 4)
    _set_reasons(app, {ids[0]: ["links"], ids[2]: ["links"], ids[3]: ["links"]})
    _decide(anna, ids[3], "reject", ground="other")

    page = anna.get("/moderate/", query_string={"reason": "links"}).get_data(as_text=True)
    assert "/moderate/approve-all?reason=links" in page
    confirm = anna.get("/moderate/approve-all", query_string={"reason": "links"})
    text = confirm.get_data(as_text=True)
    assert confirm.status_code == 200
    assert "2 pending comments match this filter and will be approved." in text
    upto = re.search(r'name="upto" value="(\d+)"', text).group(1)
    assert upto == str(ids[2])

    late = _comments(client, 1)[0]  # arrives after the admin saw the count
    _set_reasons(app, {late: ["links"]})
    response = post(anna, "/moderate/approve-all", {"reason": "links", "upto": upto})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/moderate/?reason=links")
    assert [_status(app, i) for i in (*ids, late)] == [
        "approved",
        "pending",
        "approved",
        "rejected",
        "pending",
    ]
    bulk_events = [e for e in _events(app) if e.note and e.note.startswith("bulk:")]
    assert sorted(e.comment_id for e in bulk_events) == [ids[0], ids[2]]
    notes = {e.note for e in bulk_events}
    assert len(notes) == 1 and re.fullmatch(r"bulk:[0-9a-f]{8} by anna", notes.pop())
    followed = anna.get(response.headers["Location"]).get_data(as_text=True)
    assert "2 comments approved (bulk action" in followed


def test_approve_all_in_batches(app: Flask, client: FlaskClient) -> None:
    ids = _comments(client, 5)
    with app.app_context():
        where = review.QueueFilter()
        assert review.matching_pending(where) == (5, ids[-1])
        result = review.approve_matching(where, review.Actor("anna", None), ids[-1], batch=2)
        assert result.approved == 5
    events = _events(app)
    assert [e.comment_id for e in events] == ids
    assert {e.note for e in events} == {f"bulk:{result.bulk_id} by anna"}


def test_approve_all_is_for_admins_only(app: Flask, client: FlaskClient, mona: FlaskClient) -> None:
    ids = _comments(client, 2)
    assert "approve-all" not in mona.get("/moderate/").get_data(as_text=True)
    before = snapshot(app)
    assert mona.get("/moderate/approve-all").status_code == 403
    assert post(mona, "/moderate/approve-all", {"upto": str(ids[-1])}).status_code == 403
    assert snapshot(app) == before


@pytest.mark.parametrize(
    "data",
    [
        {"upto": "x"},
        {"upto": "-1"},
        {},
        {"upto": "9" * 30},
        {"upto": "2", "status": "spam"},
        {"upto": "2", "status": "all"},
        {"upto": "2", "reason": "NO"},
        {"upto": "2", "sort": "best"},
        {"upto": "2", "q": "x" * 201},
    ],
)
def test_bad_approve_all_changes_nothing(app: Flask, client: FlaskClient, data: dict) -> None:
    anna = logged_in(app, "anna", admin=True)
    _comments(client, 2)
    before = snapshot(app)
    assert post(anna, "/moderate/approve-all", data).status_code == 400
    assert snapshot(app) == before


def test_approve_all_needs_csrf(app: Flask, client: FlaskClient) -> None:
    anna = logged_in(app, "anna", admin=True)
    ids = _comments(client, 2)
    before = snapshot(app)
    response = anna.post("/moderate/approve-all", data={"upto": str(ids[-1])})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert snapshot(app) == before
    assert anna.get("/moderate/approve-all", query_string={"status": "spam"}).status_code == 400


# --- two hosts ---------------------------------------------------------------------------


def test_two_hosts_share_the_queue_state(
    app: Flask, client: FlaskClient, database_url: str, tmp_path: Path
) -> None:
    """Two app instances (hosts behind one balancer) on one database: a poll may reach either,
    and each answers alike, since the state lives in the database only."""
    other = make_app(database_url, tmp_path / "host-b")
    anna_a = logged_in(app, "anna")
    anna_b = other.test_client()
    assert log_in(anna_b, "anna").status_code == 302
    bob_b = logged_in(other, "bob")
    try:
        first, second = _comments(client, 2)
        on_a = _state(anna_a, [first, second], since=second)
        etag = on_a.headers["ETag"]
        on_b = anna_b.get(
            STATE,
            query_string={"shown": f"{first},{second}", "since": str(second)},
            headers=JSON | {"If-None-Match": etag},
        )
        assert on_b.status_code == 304  # the same ETag on either host

        assert _claim(bob_b, first, csrf_token(bob_b, "/moderate/")).status_code == 200
        assert _decide(bob_b, second, "approve", version="0").status_code == 200
        body = _state(anna_a, [first, second], since=second).get_json()
        assert body["claims"][0]["who"] == "bob" and body["still"] == [first]
        refused = _decide(anna_a, second, "reject", ground="other", version="0")
        assert refused.status_code == 409
        assert refused.get_json()["message"].startswith("bob approved this comment")
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()
