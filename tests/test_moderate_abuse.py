"""The moderator UI's abuse tools: ban from the card, the bans list, a site's rules."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import post_comment, snapshot
from moderator_ui import logged_in, post

from moderation import bans
from moderation.extensions import db
from moderation.models import Ban, BanKind, Comment, Site
from moderation.privacy import source_hash


@pytest.fixture
def mod(app: Flask) -> FlaskClient:
    return logged_in(app)


def a_comment(client: FlaskClient, **fields: object) -> int:
    return post_comment(client, email="troll@example.org", **fields).get_json()["id"]


def all_bans(app: Flask) -> list[Ban]:
    with app.app_context():
        found = db.session.scalars(db.select(Ban).order_by(Ban.id)).all()
        db.session.expunge_all()
        return list(found)


# --- the card --------------------------------------------------------------------------------


def test_the_card_has_a_ban_form_and_the_checks_reasons(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    with app.app_context():
        from moderation.sites import update_policy

        update_policy("demo", watched_words=["Krieg"])
    comment_id = a_comment(
        client, body="Krieg! https://a.example https://b.example https://c.example"
    )
    html = mod.get("/moderate/").get_data(as_text=True)
    form = html.split(f'action="/moderate/comments/{comment_id}/ban"', 1)[1].split("</form>", 1)[0]
    assert 'name="csrf_token"' in form
    assert '<option value="source">' in form and '<option value="email">' in form
    assert 'value="7d" selected' in form and 'value="forever"' in form
    # Each check's outcome is on the card, labelled.
    for label in ("many links", "watched word: Krieg", "sent without the comment form"):
        assert label in html


def test_no_ban_form_without_source_or_email(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    comment_id = post_comment(client).get_json()["id"]
    with app.app_context():
        db.session.get(Comment, comment_id).source_hash = None
        db.session.commit()
    html = mod.get("/moderate/").get_data(as_text=True)
    assert f"/moderate/comments/{comment_id}/ban" not in html


@pytest.mark.parametrize(
    ("by", "period", "kind", "value"),
    [
        ("source", "7d", BanKind.SOURCE, None),
        ("email", "forever", BanKind.EMAIL, "troll@example.org"),
    ],
)
def test_ban_from_the_card(
    app: Flask, client: FlaskClient, mod: FlaskClient, by: str, period: str, kind: BanKind, value
) -> None:
    comment_id = a_comment(client)
    response = post(
        mod,
        f"/moderate/comments/{comment_id}/ban",
        {"by": by, "period": period, "reason": "Hetze", "next": f"/moderate/#c{comment_id}"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/moderate/#c{comment_id}"
    (ban,) = all_bans(app)
    with app.app_context():
        expected = value or source_hash("127.0.0.1")
    assert (ban.kind, ban.value, ban.reason, ban.created_by) == (kind, expected, "Hetze", "mona")
    assert (ban.expires_at is None) == (period == "forever")
    page = mod.get("/moderate/").get_data(as_text=True)
    assert "Banned the" in page
    # The next comment from them is spam with reason "banned".
    again = a_comment(client, body="wieder da")
    with app.app_context():
        assert "banned" in db.session.get(Comment, again).reasons


def test_ban_in_german(app: Flask, client: FlaskClient, mod: FlaskClient) -> None:
    comment_id = a_comment(client)
    german = {"Accept-Language": "de"}
    post(
        mod,
        f"/moderate/comments/{comment_id}/ban",
        {"by": "source", "period": "1d"},
        headers=german,
    )
    html = mod.get("/moderate/", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Quelle für einen Tag gesperrt." in html
    assert "Sperren…" in html


@pytest.mark.parametrize(
    ("path", "data", "status"),
    [
        ("/moderate/comments/{id}/ban", {"by": "ip", "period": "7d"}, 400),
        ("/moderate/comments/{id}/ban", {"by": "source", "period": "1y"}, 400),
        ("/moderate/comments/{id}/ban", {"by": "source"}, 400),
        ("/moderate/comments/{id}/ban", {"by": "source", "period": "7d", "reason": "x" * 501}, 400),
        ("/moderate/comments/999/ban", {"by": "source", "period": "7d"}, 404),
        ("/moderate/comments/{other}/ban", {"by": "email", "period": "7d"}, 409),
        ("/moderate/bans/999/lift", {}, 404),
    ],
)
def test_bad_ban_input_changes_nothing(
    app: Flask, client: FlaskClient, mod: FlaskClient, path: str, data: dict, status: int
) -> None:
    comment_id = a_comment(client)
    other = post_comment(client, body="ohne Adresse").get_json()["id"]
    before = snapshot(app)
    response = post(mod, path.format(id=comment_id, other=other), data)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert snapshot(app) == before


def test_ban_needs_csrf_and_login(app: Flask, client: FlaskClient, mod: FlaskClient) -> None:
    comment_id = a_comment(client)
    with app.app_context():
        existing = bans.add_ban("email", "x@example.org")
    before = snapshot(app)
    data = {"by": "source", "period": "7d"}
    assert mod.post(f"/moderate/comments/{comment_id}/ban", data=data).status_code == 400
    assert mod.post(f"/moderate/bans/{existing.id}/lift").status_code == 400
    anonymous = app.test_client()
    token = re.search(r'value="([^"]+)"', anonymous.get("/moderate/login").get_data(as_text=True))
    for path in (f"/moderate/comments/{comment_id}/ban", f"/moderate/bans/{existing.id}/lift"):
        response = anonymous.post(path, data={"csrf_token": token.group(1)} | data)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/moderate/login")
    assert snapshot(app) == before


# --- the protection page: rules at a glance, bans --------------------------------------------


def test_protection_page_lists_rules_and_bans_and_lifts(
    app: Flask, client: FlaskClient, mod: FlaskClient
) -> None:
    with app.app_context():
        from moderation.sites import update_policy

        update_policy("demo", blocked_words=["a", "b"], rate_limit_per_hour=0, paused=True)
        forever = bans.add_ban("email", "troll@example.org", reason="Hetze", actor="ada")
        source = bans.add_ban("source", source_hash("203.0.113.1"))
    html = mod.get("/moderate/protection").get_data(as_text=True)
    assert 'href="/moderate/protection"' in html  # in the navigation
    assert "/moderate/sites/demo/rules" in html
    assert "<td>2</td>" in html and "/ off" in html and "paused" in html
    assert "troll@example.org" in html and "Hetze" in html and "forever" in html
    with app.app_context():
        assert source_hash("203.0.113.1")[:6] in html
    assert f"/moderate/bans/{forever.id}/lift" in html

    response = post(mod, f"/moderate/bans/{forever.id}/lift", {"next": "/moderate/protection"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/moderate/protection"
    assert all_bans(app)[0].lifted_at is not None
    html = mod.get("/moderate/protection").get_data(as_text=True)
    assert "troll@example.org" not in html and f"/moderate/bans/{source.id}/lift" in html
    everything = mod.get("/moderate/protection?all=1").get_data(as_text=True)
    assert "troll@example.org" in everything and "lifted" in everything
    assert f"/moderate/bans/{forever.id}/lift" not in everything


def test_protection_page_without_bans(mod: FlaskClient) -> None:
    assert "No bans." in mod.get("/moderate/protection").get_data(as_text=True)


# --- a site's rules --------------------------------------------------------------------------


def test_a_moderator_sees_and_edits_a_sites_rules(app: Flask, mod: FlaskClient) -> None:
    page = mod.get("/moderate/sites/demo/rules")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="blocked_words"' in html and 'name="csrf_token"' in html
    assert "default: 10000" in html  # the tests' relaxed default rate limit

    response = post(
        mod,
        "/moderate/sites/demo/rules",
        {
            "blocked_words": "Idiot\ndumme kuh, Depp\n\n",
            "watched_words": "Lügenpresse",
            "max_links": "1",
            "rate_limit_per_minute": "",
            "rate_limit_per_hour": "0",
            "paused": "y",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        site = db.session.scalars(db.select(Site)).one()
        assert site.blocked_words == ["Idiot", "dumme kuh", "Depp"]
        assert site.watched_words == ["Lügenpresse"]
        assert (site.max_links, site.rate_limit_per_minute, site.rate_limit_per_hour) == (
            1,
            None,
            0,
        )
        assert site.paused
    html = mod.get("/moderate/sites/demo/rules").get_data(as_text=True)
    assert "Idiot\ndumme kuh\nDepp" in html and 'value="1"' in html and "checked" in html

    post(mod, "/moderate/sites/demo/rules", {"blocked_words": "", "max_links": ""})
    with app.app_context():
        site = db.session.scalars(db.select(Site)).one()
        assert (site.blocked_words, site.max_links, site.paused) == ([], None, False)


def test_the_admins_site_page_links_to_the_rules(app: Flask) -> None:
    admin = logged_in(app, "ada", admin=True)
    html = admin.get("/moderate/admin/sites/demo").get_data(as_text=True)
    assert 'id="site-rules"' in html and "/moderate/sites/demo/rules" in html


@pytest.mark.parametrize(
    ("path", "data", "status"),
    [
        ("/moderate/sites/demo/rules", {"max_links": "viele"}, 400),
        ("/moderate/sites/demo/rules", {"max_links": "-1"}, 400),
        ("/moderate/sites/demo/rules", {"rate_limit_per_minute": "100001"}, 400),
        ("/moderate/sites/demo/rules", {"blocked_words": "id*ot"}, 400),
        ("/moderate/sites/demo/rules", {"watched_words": "x" * 101}, 400),
        ("/moderate/sites/demo/rules", {"max_links": "12345678901"}, 400),
        ("/moderate/sites/nope/rules", {}, 404),
    ],
)
def test_bad_rules_change_nothing(
    app: Flask, mod: FlaskClient, path: str, data: dict, status: int
) -> None:
    before = snapshot(app)
    response = post(mod, path, data)
    assert response.status_code == status
    assert snapshot(app) == before


def test_rules_need_csrf_and_login(app: Flask, client: FlaskClient, mod: FlaskClient) -> None:
    before = snapshot(app)
    assert mod.post("/moderate/sites/demo/rules", data={"paused": "y"}).status_code == 400
    for path in ("/moderate/sites/demo/rules", "/moderate/protection"):
        response = app.test_client().get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/moderate/login")
    assert snapshot(app) == before


# --- issue 16: ids and text that reached the database as 500s; reader text shown safely -------

HUGE = "9" * 20


@pytest.mark.parametrize("number", [HUGE, str(2**31), str(2**63), "0"])
@pytest.mark.parametrize(
    ("path", "data", "message"),
    [
        (
            "/moderate/comments/{}/ban",
            {"by": "source", "period": "7d"},
            "There is no such comment.",
        ),
        ("/moderate/bans/{}/lift", {}, "There is no ban"),
    ],
)
def test_ban_and_lift_with_an_id_that_names_nothing(
    app: Flask,
    client: FlaskClient,
    mod: FlaskClient,
    path: str,
    data: dict,
    message: str,
    number: str,
) -> None:
    a_comment(client)
    with app.app_context():
        bans.add_ban("email", "x@example.org")
    before = snapshot(app)
    response = post(mod, path.format(number), data)
    assert response.status_code == 404
    assert message in response.get_data(as_text=True)
    assert snapshot(app) == before


@pytest.mark.parametrize("number", ["%C2%B9", "%D9%A1", "%EF%BC%91"])
@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/moderate/comments/{}/ban", {"by": "source", "period": "7d"}),
        ("/moderate/bans/{}/lift", {}),
    ],
)
def test_ban_and_lift_take_no_digits_of_other_scripts(
    app: Flask, client: FlaskClient, mod: FlaskClient, path: str, data: dict, number: str
) -> None:
    """int() reads "١" (Arabic-Indic one) as 1: that banned the author of comment 1."""
    a_comment(client)
    with app.app_context():
        bans.add_ban("email", "x@example.org")
    before = snapshot(app)
    assert post(mod, path.format(number), data).status_code == 404
    assert snapshot(app) == before


@pytest.mark.parametrize("value", ["²", "١٢", "１２", "1_0", "+1", "1.5", "1e3", "9999999999"])
@pytest.mark.parametrize("field", ["max_links", "rate_limit_per_minute", "rate_limit_per_hour"])
def test_limits_are_ascii_whole_numbers(
    app: Flask, mod: FlaskClient, field: str, value: str
) -> None:
    """``str.isdigit`` took "²", which int() then refused (a 500), and "١٢", stored as 12."""
    before = snapshot(app)
    response = post(mod, "/moderate/sites/demo/rules", {field: value})
    assert response.status_code == 400
    assert "a whole number" in response.get_data(as_text=True)
    assert snapshot(app) == before


NUL = "a\x00b"


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/moderate/comments/{id}/ban", {"by": "source", "period": "7d", "reason": NUL}),
        ("/moderate/comments/{id}/ban", {"by": NUL, "period": "7d"}),
        ("/moderate/sites/demo/rules", {"blocked_words": NUL}),
        ("/moderate/sites/demo/rules", {"watched_words": f"krieg\n{NUL}"}),
        ("/moderate/sites/demo/rules", {"max_links": NUL}),
        ("/moderate/sites/a%00b/rules", {}),
        ("/moderate/bans/{ban}/lift", {"next": NUL}),
    ],
)
def test_text_the_database_cannot_store_is_refused(
    app: Flask, client: FlaskClient, mod: FlaskClient, path: str, data: dict
) -> None:
    """NUL made PostgreSQL raise: a 500 for a ban reason, a word list, a site's slug."""
    comment_id = a_comment(client)
    with app.app_context():
        ban = bans.add_ban("email", "x@example.org")
    before = snapshot(app)
    response = post(mod, path.format(id=comment_id, ban=ban.id), data)
    assert response.status_code == 400
    assert "cannot be stored" in response.get_data(as_text=True)
    assert snapshot(app) == before


def test_the_rules_page_refuses_nul_in_its_address(mod: FlaskClient) -> None:
    response = mod.get("/moderate/sites/a%00b/rules")
    assert response.status_code == 400
    assert "cannot be stored" in response.get_data(as_text=True)


def test_a_banned_address_with_hidden_characters_is_shown_safely(
    app: Flask, mod: FlaskClient
) -> None:
    with app.app_context():
        bans.add_ban("email", "troll\u202e@gro.elpmaxe\u200b")
    html = mod.get("/moderate/protection").get_data(as_text=True)
    assert "\u202e" not in html and "\u200b" not in html
    assert (
        '<bdi class="reader-text">troll'
        '<span class="control-char" title="RIGHT-TO-LEFT OVERRIDE">[U+202E]</span>@gro.elpmaxe'
        '<span class="control-char" title="ZERO WIDTH SPACE">[U+200B]</span></bdi>'
    ) in html


# --- in a real browser -----------------------------------------------------------------------


@pytest.mark.browser
def test_ban_from_the_card_in_a_german_browser(app: Flask, live_server: Any, page: Any) -> None:
    from moderator_ui import PASSWORD, add_moderator

    comment_id = a_comment(app.test_client())
    add_moderator(app)
    page.goto(f"{live_server.url}/moderate/login")
    page.fill('input[name="username"]', "mona")
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{live_server.url}/moderate/")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    card = page.locator(f"#c{comment_id}")
    card.locator("details.ban summary").click()
    card.locator('select[name="by"]').select_option("email")
    card.locator('select[name="period"]').select_option("30d")
    card.locator('input[name="reason"]').fill("ars")  # letters that are shortcuts elsewhere
    card.locator(".ban-form button").click()
    page.wait_for_selector(".flash-success")
    assert "E-Mail-Adresse für 30 Tage gesperrt." in page.locator(".flash-success").inner_text()
    (ban,) = all_bans(app)
    assert (ban.kind, ban.value, ban.reason) == (BanKind.EMAIL, "troll@example.org", "ars")
    with app.app_context():
        assert db.session.get(Comment, comment_id).status.value == "pending"  # not decided
    assert not errors, errors
