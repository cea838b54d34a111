"""The whole story: a reader comments, a moderator approves, the article page shows it."""

from flask import Flask
from flask.testing import FlaskClient
from helpers import THREAD, post_comment

from moderation.review import Actor, decide, history


def test_submit_pending_approve_listed(app: Flask, client: FlaskClient) -> None:
    listed = client.get(f"{THREAD}/comments")
    assert listed.get_json() == {"comments": [], "count": 0, "next": None}
    etag = listed.headers["ETag"]

    created = post_comment(
        client,
        author="Jörg",
        body="Endlich Gespräche! <script>alert('x')</script>\nMehr unter https://example.org",
        headers={"Origin": "https://news.example"},
    )
    assert created.status_code == 202
    comment_id = created.get_json()["id"]

    # Not public before a moderator approves it.
    assert client.get(f"{THREAD}/comments").get_json()["count"] == 0

    with app.app_context():
        event = decide(comment_id, "approve", Actor("anna"), note="passt")
        assert (event.from_status, event.to_status, event.actor_name) == (
            "pending",
            "approved",
            "anna",
        )

    response = client.get(f"{THREAD}/comments", headers={"If-None-Match": etag})
    assert response.status_code == 200
    body = response.get_json()
    assert body["count"] == 1
    (comment,) = body["comments"]
    assert comment["author"] == "Jörg"
    assert comment["html"] == (
        "<p>Endlich Gespräche! &lt;script&gt;alert('x')&lt;/script&gt;<br>Mehr unter "
        '<a href="https://example.org" rel="nofollow ugc noopener">https://example.org</a></p>'
    )
    new_etag = response.headers["ETag"]
    assert new_etag != etag
    assert client.get(f"{THREAD}/comments", headers={"If-None-Match": new_etag}).status_code == 304

    # A revision takes it off the list again, and is an event of its own.
    with app.app_context():
        decide(comment_id, "reject", Actor("ben"), note="doch nicht")
        assert [e.to_status for e in history(comment_id)] == ["approved", "rejected"]
    assert client.get(f"{THREAD}/comments").get_json()["count"] == 0
