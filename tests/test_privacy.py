from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import THREAD, make_app, post_comment, snapshot

from moderation.extensions import db
from moderation.models import Comment
from moderation.privacy import source_hash


def test_source_hash_is_keyed_and_stable(app: Flask) -> None:
    with app.app_context():
        first = source_hash("203.0.113.7")
        assert first == source_hash("203.0.113.7")
        assert first != source_hash("203.0.113.8")
        assert "203.0.113.7" not in first
        assert len(first) == 64
    other = Flask(__name__)
    other.config["SECRET_KEY"] = "another key"
    with other.app_context():
        assert source_hash("203.0.113.7") != first


def test_ipv6_is_hashed_by_its_64_prefix(app: Flask) -> None:
    with app.app_context():
        assert source_hash("2001:db8:1:2::1") == source_hash("2001:db8:1:2:ffff::9")
        assert source_hash("2001:db8:1:2::1") != source_hash("2001:db8:1:3::1")
        assert source_hash("::ffff:203.0.113.7") == source_hash("203.0.113.7")
        assert source_hash(None) is None


def test_no_raw_address_is_stored(app: Flask, client: FlaskClient) -> None:
    comment_id = post_comment(client).get_json()["id"]
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        assert comment.source_hash == source_hash("127.0.0.1")
        assert "127.0.0.1" not in repr([getattr(comment, c.key) for c in Comment.__table__.columns])


# --- the client address behind reverse proxies -----------------------------------------------

FORWARDED = {"X-Forwarded-For": "198.51.100.1, 203.0.113.50", "X-Forwarded-Proto": "https"}


def _source_of(app: Flask, response) -> str | None:
    with app.app_context():
        found = db.session.get(Comment, response.get_json()["id"]).source_hash
        db.session.remove()
        return found


def test_forwarded_for_is_ignored_by_default(app: Flask, client: FlaskClient) -> None:
    response = client.post(
        f"{THREAD}/comments",
        json={"author": "A", "body": "b"},
        headers=FORWARDED,
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    with app.app_context():
        assert _source_of(app, response) == source_hash("10.0.0.1")


@pytest.mark.parametrize(("proxies", "client_address"), [(1, "203.0.113.50"), (2, "198.51.100.1")])
def test_forwarded_for_is_believed_for_trusted_proxies(
    app: Flask, database_url: str, tmp_path: Path, proxies: int, client_address: str
) -> None:
    behind = make_app(database_url, tmp_path, TRUSTED_PROXIES=proxies)
    try:
        client = behind.test_client()
        response = client.post(
            f"{THREAD}/comments",
            json={"author": "A", "body": "b"},
            headers=FORWARDED,
            environ_base={"REMOTE_ADDR": "10.0.0.1"},
        )
        assert response.status_code == 202
        with behind.app_context():
            assert _source_of(behind, response) == source_hash(client_address)
        # Without the header (a request that bypassed the proxy) the socket address counts.
        direct = client.post(
            f"{THREAD}/comments",
            json={"author": "A", "body": "c"},
            environ_base={"REMOTE_ADDR": "10.0.0.1"},
        )
        with behind.app_context():
            assert _source_of(behind, direct) == source_hash("10.0.0.1")
    finally:
        with behind.app_context():
            db.session.remove()
            db.engine.dispose()


def test_readers_behind_one_proxy_are_limited_one_by_one(
    app: Flask, database_url: str, tmp_path: Path
) -> None:
    behind = make_app(database_url, tmp_path, TRUSTED_PROXIES=1, RATE_LIMIT_PER_MINUTE=1)
    try:
        client = behind.test_client()

        def post(reader: str, body: str) -> int:
            return client.post(
                f"{THREAD}/comments",
                json={"author": "A", "body": body},
                headers={"X-Forwarded-For": reader},
                environ_base={"REMOTE_ADDR": "10.0.0.1"},
            ).status_code

        assert post("203.0.113.1", "eins") == 202
        assert post("203.0.113.2", "zwei") == 202
        assert post("203.0.113.1", "drei") == 429
    finally:
        with behind.app_context():
            db.session.remove()
            db.engine.dispose()


# --- no address anywhere in the database -----------------------------------------------------

ADDRESSES = ["203.0.113.77", "198.51.100.23", "2001:db8:abcd:12::5", "10.9.8.7"]


def test_no_client_address_is_anywhere_in_the_database(
    app: Flask, database_url: str, tmp_path: Path
) -> None:
    from moderation import bans

    behind = make_app(database_url, tmp_path, TRUSTED_PROXIES=1)
    try:
        direct, proxied = app.test_client(), behind.test_client()
        ids = []
        for n, address in enumerate(ADDRESSES[:3]):
            response = direct.post(
                f"{THREAD}/comments",
                json={"author": f"Leser {n}", "body": f"Text {n}", "email": f"l{n}@example.org"},
                environ_base={"REMOTE_ADDR": address},
            )
            ids.append(response.get_json()["id"])
        proxied.post(
            f"{THREAD}/comments",
            json={"author": "Hinter Proxy", "body": "Text"},
            headers={"X-Forwarded-For": ADDRESSES[3]},
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
        )
        page = direct.get(
            "/embed/demo/politik/2026/russland-usa", environ_base={"REMOTE_ADDR": ADDRESSES[0]}
        )
        token = page.text.split('name="form_token" type="hidden" value="', 1)[1].split('"', 1)[0]
        direct.post(
            "/embed/demo/politik/2026/russland-usa",
            data={"author": "Ohne JS", "body": "Formular", "form_token": token},
            environ_base={"REMOTE_ADDR": ADDRESSES[1]},
        )
        with app.app_context():
            bans.ban_comment_author(ids[0], "source")
    finally:
        with behind.app_context():
            db.session.remove()
            db.engine.dispose()

    dump = repr(snapshot(app))
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Comment.id))) == 5
        if db.engine.dialect.name == "sqlite":
            db.session.remove()
            db.engine.dispose()
            database_file = Path(db.engine.url.database)
            for path in (database_file, Path(f"{database_file}-wal")):
                if path.exists():
                    dump += path.read_bytes().decode("latin-1")
    assert "Hinter Proxy" in dump and "Ohne JS" in dump  # the dump does see the data
    for address in [*ADDRESSES, "2001:db8:abcd:12", "2001:0db8"]:
        assert address not in dump
