"""Each abuse check and each reason code, through the API, with the real default limits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import THREAD, assert_indexed, driver_plan, post_comment, snapshot

from moderation import bans, checks
from moderation.config import Defaults
from moderation.database import Statement
from moderation.extensions import db
from moderation.models import Article, Comment, CommentStatus, Language, Site, utcnow
from moderation.privacy import source_hash
from moderation.sites import create_site, update_policy

OTHER = "/api/v1/sites/other/articles/sport/comments"


@pytest.fixture
def real_limits(app: Flask) -> Flask:
    """The checks that count (relaxed for the rest of the suite) at their shipped defaults."""
    for name in ("RATE_LIMIT_PER_MINUTE", "RATE_LIMIT_PER_HOUR", "DUPLICATE_WINDOW_HOURS"):
        app.config[name] = getattr(Defaults, name)
    return app


def from_address(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def post_from(client: FlaskClient, address: str, thread: str = THREAD, **fields: object):
    payload = {"author": "Anna", "body": "Ein guter Artikel."} | fields
    path = thread if thread.endswith("/comments") else f"{thread}/comments"
    return client.post(path, json=payload, **from_address(address))


def stored(app: Flask, comment_id: int) -> Comment:
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        db.session.expunge(comment)
        return comment


def a_form_token(client: FlaskClient) -> str:
    return client.get(f"{THREAD}/form-token").get_json()["token"]


def test_shipped_defaults() -> None:
    assert Defaults.RATE_LIMIT_PER_MINUTE == 3
    assert Defaults.RATE_LIMIT_PER_HOUR == 20
    assert Defaults.DUPLICATE_WINDOW_HOURS == 24
    assert Defaults.MAX_LINKS == 2
    assert Defaults.MIN_SUBMIT_SECONDS == 3
    assert Defaults.TRUSTED_PROXIES == 0


def test_the_checks_run_in_the_documented_order() -> None:
    names = [check.__name__ for check in checks.CHECKS]
    assert names == [
        "honeypot",
        "form_token",
        "links",
        "words",
        "rate_limit",
        "duplicate",
        "banned",
    ]
    position = [checks.__doc__.index(f":func:`{name}`") for name in names]
    assert position == sorted(position)


# --- 1. honeypot -----------------------------------------------------------------------------


def test_honeypot_is_spam_with_the_same_answer(app: Flask, client: FlaskClient) -> None:
    normal = post_comment(client, form_token=a_form_token(client))
    trapped = post_comment(client, form_token=a_form_token(client), website="http://spam.example")
    assert trapped.status_code == normal.status_code == 202
    assert set(trapped.get_json()) == set(normal.get_json())
    assert trapped.get_json()["status"] == "pending"
    comment = stored(app, trapped.get_json()["id"])
    assert comment.status == CommentStatus.SPAM
    assert comment.reasons == ["honeypot"]
    assert stored(app, normal.get_json()["id"]).reasons == []


# --- 2. form token ---------------------------------------------------------------------------


def test_no_token_is_held(app: Flask, client: FlaskClient) -> None:
    comment = stored(app, post_comment(client).get_json()["id"])
    assert (comment.status, comment.reasons) == (CommentStatus.PENDING, ["no_token"])


def test_too_fast_is_spam(app: Flask, client: FlaskClient) -> None:
    app.config["MIN_SUBMIT_SECONDS"] = 3
    response = post_comment(client, form_token=a_form_token(client))
    assert response.status_code == 202
    comment = stored(app, response.get_json()["id"])
    assert (comment.status, comment.reasons) == (CommentStatus.SPAM, ["too_fast"])


def test_an_expired_token_asks_to_reload(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = a_form_token(client)
    app.config["FORM_TOKEN_MAX_AGE"] = -1
    before = snapshot(app)
    response = post_comment(client, form_token=token)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_form_token"
    assert "expired" in response.get_json()["message"]
    assert "reload" in response.get_json()["message"]
    assert snapshot(app) == before


# --- 3. rate limits --------------------------------------------------------------------------


def test_rate_limit_per_minute(real_limits: Flask, client: FlaskClient) -> None:
    app = real_limits
    for n in range(3):
        assert post_from(client, "203.0.113.5", body=f"Kommentar {n}").status_code == 202
    before = snapshot(app)
    refused = post_from(client, "203.0.113.5", body="Noch einer")
    assert refused.status_code == 429
    assert refused.get_json()["error"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "Bitte warten Sie" in refused.get_json()["message"]  # the demo site speaks German
    assert "Sekunden" in refused.get_json()["message"]
    assert refused.headers["Cache-Control"] == "no-store"
    assert snapshot(app) == before
    # Another reader is not affected, nor is the same reader on another site.
    assert post_from(client, "203.0.113.6", body="Andere Quelle").status_code == 202
    with app.app_context():
        create_site("other", "Other", language="en")
    assert post_from(client, "203.0.113.5", OTHER, body="Elsewhere").status_code == 202


def _comments_at(app: Flask, address: str, ages: list[timedelta], site: str = "demo") -> None:
    """Comments from an address, written ``ages`` ago."""
    with app.app_context():
        the_site = db.session.scalars(db.select(Site).where(Site.slug == site)).one()
        article = Article(site_id=the_site.id, key=f"old-{address}")
        db.session.add(article)
        db.session.flush()
        for n, age in enumerate(ages):
            db.session.add(
                Comment(
                    article_id=article.id,
                    author="Anna",
                    body_raw=f"alt {n}",
                    body_html=f"<p>alt {n}</p>",
                    source_hash=source_hash(address),
                    created_at=utcnow() - age,
                )
            )
        db.session.commit()


def test_retry_after_is_when_the_window_frees_a_place(
    real_limits: Flask, client: FlaskClient
) -> None:
    _comments_at(real_limits, "198.51.100.1", [timedelta(seconds=s) for s in (50, 40, 30)])
    refused = post_from(client, "198.51.100.1")
    assert refused.status_code == 429
    # The oldest of the three leaves the 60-second window in 10 seconds.
    assert 9 <= int(refused.headers["Retry-After"]) <= 10


def test_a_source_told_to_wait_is_refused_without_asking_the_database(
    real_limits: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = real_limits
    _comments_at(app, "198.51.100.7", [timedelta(seconds=s) for s in (50, 40, 30)])
    first = post_from(client, "198.51.100.7")
    assert first.status_code == 429
    asked: list[object] = []
    real_ask = checks._ask_recent
    monkeypatch.setattr(checks, "_ask_recent", lambda *args: asked.append(args) or real_ask(*args))
    before = snapshot(app)
    again = post_from(client, "198.51.100.7", body="Noch einmal")
    assert again.status_code == 429
    assert again.get_json()["error"] == "rate_limited"
    assert "Bitte warten Sie" in again.get_json()["message"]
    assert 1 <= int(again.headers["Retry-After"]) <= int(first.headers["Retry-After"])
    assert asked == []
    assert snapshot(app) == before
    # Another reader is counted as before.
    assert post_from(client, "198.51.100.8").status_code == 202
    assert asked
    asked.clear()
    # A site that raises its limit lets the source in at once.
    with app.app_context():
        update_policy("demo", rate_limit_per_minute=4)
    assert post_from(client, "198.51.100.7", body="Jetzt darf ich").status_code == 202
    assert asked


def test_once_the_wait_is_over_the_source_may_send_again(
    real_limits: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moderation import submission

    _comments_at(real_limits, "198.51.100.9", [timedelta(seconds=s) for s in (50, 40, 30)])
    refused = post_from(client, "198.51.100.9")
    assert refused.status_code == 429
    later = utcnow() + timedelta(seconds=int(refused.headers["Retry-After"]) + 1)
    monkeypatch.setattr(submission, "utcnow", lambda: later)
    assert post_from(client, "198.51.100.9", body="Später").status_code == 202


def test_rate_limit_per_hour(real_limits: Flask, client: FlaskClient) -> None:
    app = real_limits
    _comments_at(app, "198.51.100.2", [timedelta(minutes=m) for m in range(59, 39, -1)])
    refused = post_from(client, "198.51.100.2")
    assert refused.status_code == 429
    # The oldest of the 20 leaves the hour in about a minute.
    assert 50 <= int(refused.headers["Retry-After"]) <= 60
    _comments_at(app, "198.51.100.3", [timedelta(minutes=m) for m in range(19, -1, -1)])
    refused = post_from(client, "198.51.100.3")
    assert 40 * 60 - 2 <= int(refused.headers["Retry-After"]) <= 41 * 60
    assert "41 Minuten" in refused.get_json()["message"]


def test_a_site_sets_its_own_limits_and_zero_is_off(
    real_limits: Flask, client: FlaskClient
) -> None:
    app = real_limits
    with app.app_context():
        update_policy("demo", rate_limit_per_minute=1)
    assert post_from(client, "203.0.113.9", body="eins").status_code == 202
    assert post_from(client, "203.0.113.9", body="zwei").status_code == 429
    with app.app_context():
        update_policy("demo", rate_limit_per_minute=0, rate_limit_per_hour=0)
    for n in range(5):
        assert post_from(client, "203.0.113.9", body=f"frei {n}").status_code == 202
    with app.app_context():
        update_policy("demo", rate_limit_per_minute=None, rate_limit_per_hour=None)
    assert post_from(client, "203.0.113.9", body="wieder begrenzt").status_code == 429


def test_global_zero_switches_limits_off(real_limits: Flask, client: FlaskClient) -> None:
    real_limits.config["RATE_LIMIT_PER_MINUTE"] = 0
    real_limits.config["RATE_LIMIT_PER_HOUR"] = 0
    for n in range(6):
        assert post_from(client, "203.0.113.10", body=f"Text {n}").status_code == 202


def test_spam_counts_against_the_limit(real_limits: Flask, client: FlaskClient) -> None:
    for n in range(3):
        response = post_from(client, "203.0.113.11", body=f"x {n}", website="bot")
        assert response.status_code == 202
    assert post_from(client, "203.0.113.11", body="Ehrlich").status_code == 429


def test_rate_limit_message_in_english(real_limits: Flask, client: FlaskClient) -> None:
    with real_limits.app_context():
        create_site("other", "Other", language="en")
    for n in range(3):
        post_from(client, "203.0.113.12", OTHER, body=f"c {n}")
    refused = post_from(client, "203.0.113.12", OTHER, body="again")
    assert refused.status_code == 429
    assert "Please wait" in refused.get_json()["message"]


# --- 4. links --------------------------------------------------------------------------------


def test_too_many_links_are_held(app: Flask, client: FlaskClient) -> None:
    two = "Siehe https://a.example und www.b.example"
    three = two + " und mailto:c@example.org"
    assert stored(app, post_comment(client, body=two).get_json()["id"]).reasons == ["no_token"]
    comment = stored(app, post_comment(client, body=three).get_json()["id"])
    assert comment.status == CommentStatus.PENDING
    assert comment.reasons == ["no_token", "links"]
    with app.app_context():
        update_policy("demo", max_links=0)
    assert (
        "links"
        in stored(app, post_comment(client, body="https://x.example").get_json()["id"]).reasons
    )


# --- 5. word lists ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "Du bist ein Idiot.",
        "IDIOT!",
        "ídíót",  # accents
        "iiidiooot",  # repeated letters
        "i\u200bdi\u200dot",  # zero-width characters
        "idi\u00adot",  # soft hyphen
        "Ｉｄｉｏｔ",  # full-width letters
    ],
)
def test_a_blocked_word_is_spam_even_disguised(app: Flask, client: FlaskClient, body: str) -> None:
    with app.app_context():
        update_policy("demo", blocked_words=["Idiot"])
    comment = stored(app, post_comment(client, body=body).get_json()["id"])
    assert comment.status == CommentStatus.SPAM
    assert "blocked_word:Idiot" in comment.reasons


@pytest.mark.parametrize("body", ["Idiotie ist ein Wort.", "Ein Patriot", "i d i o t"])
def test_blocked_words_match_whole_words_only(app: Flask, client: FlaskClient, body: str) -> None:
    with app.app_context():
        update_policy("demo", blocked_words=["idiot"])
    comment = stored(app, post_comment(client, body=body).get_json()["id"])
    assert comment.status == CommentStatus.PENDING
    assert comment.reasons == ["no_token"]


def test_watched_words_hold_and_name_the_word(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        update_policy(
            "demo", watched_words=["Lügenpresse", "Volksverräter*"], blocked_words=["dumme kuh"]
        )
    response = post_comment(
        client, author="Die  DUMME Kuh", body="Diese lugenpresse und ihre Volksverräterin!"
    )
    comment = stored(app, response.get_json()["id"])
    assert comment.status == CommentStatus.SPAM
    assert comment.reasons == [
        "no_token",
        "blocked_word:dumme kuh",
        "watched_word:Lügenpresse",
        "watched_word:Volksverräter*",
    ]
    held = stored(app, post_comment(client, body="Lügenpresse?").get_json()["id"])
    assert held.status == CommentStatus.PENDING
    assert held.reasons == ["no_token", "watched_word:Lügenpresse"]


# --- 6. duplicates ---------------------------------------------------------------------------


def test_the_same_text_again_is_spam(real_limits: Flask, client: FlaskClient) -> None:
    app = real_limits
    first = post_from(client, "203.0.113.20", body="Genau meine Meinung.")
    again = post_from(client, "203.0.113.20", body="  genau   MEINE Meinung. ")
    assert stored(app, first.get_json()["id"]).reasons == ["no_token"]
    comment = stored(app, again.get_json()["id"])
    assert (comment.status, comment.reasons) == (CommentStatus.SPAM, ["no_token", "duplicate"])
    other = post_from(client, "203.0.113.21", body="Genau meine Meinung.")
    assert stored(app, other.get_json()["id"]).reasons == ["no_token"]


def test_the_same_text_from_the_same_email_is_spam(real_limits: Flask, client: FlaskClient) -> None:
    app = real_limits
    post_from(client, "203.0.113.22", email="leser@example.org", body="Abo gekündigt!")
    again = post_from(client, "203.0.113.23", email="leser@example.org", body="Abo gekündigt!")
    assert stored(app, again.get_json()["id"]).reasons == ["no_token", "duplicate"]


def test_duplicates_count_for_24_hours(real_limits: Flask, client: FlaskClient) -> None:
    app = real_limits
    _comments_at(app, "203.0.113.24", [timedelta(hours=25)])  # body "alt 0"
    response = post_from(client, "203.0.113.24", body="alt 0")
    assert stored(app, response.get_json()["id"]).reasons == ["no_token"]
    app.config["DUPLICATE_WINDOW_HOURS"] = 26
    response = post_from(client, "203.0.113.24", body="alt 0", author="Ben")
    assert "duplicate" in stored(app, response.get_json()["id"]).reasons


# --- 7. bans ---------------------------------------------------------------------------------


def test_a_banned_source_is_spam_with_the_same_answer(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        bans.add_ban("source", source_hash("203.0.113.30"), duration=timedelta(days=1))
    response = post_from(client, "203.0.113.30")
    assert response.status_code == 202
    assert set(response.get_json()) == {"id", "status", "token"}
    comment = stored(app, response.get_json()["id"])
    assert (comment.status, comment.reasons) == (CommentStatus.SPAM, ["no_token", "banned"])
    assert stored(app, post_from(client, "203.0.113.31").get_json()["id"]).reasons == ["no_token"]


def test_a_banned_email_is_spam_whatever_its_case(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        bans.add_ban("email", "Troll@Example.org")
    response = post_comment(client, email="troll@EXAMPLE.org")
    assert "banned" in stored(app, response.get_json()["id"]).reasons


def test_lifted_and_expired_bans_do_not_count(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        lifted = bans.add_ban("email", "a@example.org")
        bans.lift_ban(lifted.id)
        expired = bans.add_ban("email", "b@example.org", duration=timedelta(hours=1))
        expired.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    for email in ("a@example.org", "b@example.org"):
        response = post_comment(client, email=email, body=f"von {email}")
        assert stored(app, response.get_json()["id"]).reasons == ["no_token"]


# --- 8. pause --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "message"),
    [(Language.DE, "Kommentare sind vorübergehend geschlossen."), (Language.EN, "Comments are")],
)
def test_a_paused_site_refuses_in_its_language(
    app: Flask, client: FlaskClient, language: Language, message: str
) -> None:
    with app.app_context():
        db.session.execute(db.update(Site).values(language=language))
        db.session.commit()
        update_policy("demo", paused=True)
    before = snapshot(app)
    response = post_comment(client)
    assert response.status_code == 403
    assert response.get_json()["error"] == "paused"
    assert response.get_json()["message"].startswith(message)
    assert snapshot(app) == before
    with app.app_context():
        update_policy("demo", paused=False)
    assert post_comment(client).status_code == 202


# --- all together ----------------------------------------------------------------------------


def test_every_reason_is_kept_in_order(real_limits: Flask, client: FlaskClient) -> None:
    app = real_limits
    with app.app_context():
        update_policy("demo", blocked_words=["kaufen"], watched_words=["billig"])
        bans.add_ban("email", "spam@example.org")
    body = "Billig kaufen: https://a.example https://b.example https://c.example"
    post_from(client, "203.0.113.40", body=body)
    response = post_from(client, "203.0.113.40", body=body, website="x", email="spam@example.org")
    comment = stored(app, response.get_json()["id"])
    assert comment.status == CommentStatus.SPAM
    assert comment.reasons == [
        "honeypot",
        "no_token",
        "links",
        "blocked_word:kaufen",
        "watched_word:billig",
        "duplicate",
        "banned",
    ]


# --- the no-JS form runs the same checks -----------------------------------------------------

PAGE = "/embed/demo/politik/2026/russland-usa"


def send_form(client: FlaskClient, address: str, **fields: str):
    page = client.get(PAGE, environ_base={"REMOTE_ADDR": address})
    token = page.text.split('name="form_token" type="hidden" value="', 1)[1].split('"', 1)[0]
    form = {"author": "Anna", "body": "Ein guter Artikel.", "form_token": token} | fields
    return client.post(PAGE, data=form, environ_base={"REMOTE_ADDR": address})


def test_the_no_js_form_runs_every_check(real_limits: Flask, client: FlaskClient) -> None:
    app = real_limits
    with app.app_context():
        update_policy("demo", blocked_words=["Idiot"])
        bans.add_ban("source", source_hash("203.0.113.60"))
    assert send_form(client, "203.0.113.60", body="Idiot!", website="x").status_code == 303
    assert send_form(client, "203.0.113.60", body="Idiot!").status_code == 303
    assert send_form(client, "203.0.113.60", body="Dritter").status_code == 303
    refused = send_form(client, "203.0.113.60", body="Vierter")
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    with app.app_context():
        reasons = db.session.scalars(db.select(Comment.reasons).order_by(Comment.id)).all()
    assert reasons == [
        ["honeypot", "blocked_word:Idiot", "banned"],
        ["blocked_word:Idiot", "duplicate", "banned"],
        ["banned"],
    ]


# --- the history checks' queries are served by indexes (EXPLAIN on both databases) ----------


@pytest.mark.parametrize(
    ("statement", "params", "index"),
    [
        (
            checks._RECENT_ON_SITE,
            {"source_hash": "s" * 64, "since": "2026-01-01", "site_id": 1, "most": 20},
            "ix_comment_source_created",
        ),
        (
            checks._EARLIER_BODIES["source_hash"],
            {"sender": "s" * 64, "since": "2026-01-01"},
            "ix_comment_source_created",
        ),
        (
            checks._EARLIER_BODIES["email"],
            {"sender": "a@example.org", "since": "2026-01-01"},
            "ix_comment_email_created",
        ),
        (
            bans._ACTIVE_BAN,
            {
                "source_hash": "s" * 64,
                "email": "a@example.org",
                "erased": "x" * 64,
                "now": "2026-01-01",
            },
            "ix_ban_kind_value",
        ),
    ],
    ids=["rate_limit", "duplicate_by_source", "duplicate_by_email", "banned"],
)
def test_the_history_checks_use_their_indexes(
    app: Flask, client: FlaskClient, statement: Statement, params: dict, index: str
) -> None:
    # Most comments come without an e-mail address, as on a real site; statistics that see
    # this must still leave the e-mail lookup on its index.
    for number in range(30):
        post_from(client, f"10.0.0.{number}", body=f"Beitrag {number}")
    post_from(client, "10.0.1.1", email="a@example.org")
    assert_indexed(driver_plan(app, statement, params, analyze=True), index)
