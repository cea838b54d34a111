from flask import Flask
from flask.testing import FlaskClient
from helpers import post_comment

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
