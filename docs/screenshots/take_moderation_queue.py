"""Take the screenshot of the moderation queue in docs/moderator-ui.md.

Run: ``.venv/bin/python docs/screenshots/take_moderation_queue.py``.

Builds a throwaway instance (SQLite in a temporary folder) with a few comments, serves it on a
loopback port, logs in with headless Debian Chromium (German) and saves
``docs/screenshots/moderation-queue.png``.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright
from werkzeug.security import generate_password_hash
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from servers import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

from moderation import create_app  # noqa: E402
from moderation.extensions import db  # noqa: E402
from moderation.models import Comment, Moderator, Role, utcnow  # noqa: E402
from moderation.review import Actor, decide  # noqa: E402
from moderation.sites import create_site  # noqa: E402

THREAD = "/api/v1/sites/tagesblatt/articles/politik/2026/wahlrecht-reform/comments"
COMMENTS = [
    (
        "10.0.0.1",
        "Anna K.",
        "anna@example.org",
        "Endlich traut sich jemand an das Thema. "
        "Die Reform ist überfällig, aber die Übergangsfrist ist zu kurz.",
        [],
    ),
    ("10.0.0.2", "Bernd", None, "Wer soll das denn bezahlen? Steht nirgends im Artikel.", []),
    (
        "10.0.0.3",
        "Gewinnspiel24",
        "win@example.net",
        "Jetzt gewinnen: https://a.example https://b.example https://c.example",
        ["links", "too_fast"],
    ),
    ("10.0.0.2", "Bernd", None, "Und noch etwas: die Grafik ist falsch beschriftet.", []),
    (
        "10.0.0.4",
        "M. Weber",
        "weber@example.com",
        "Das ist *Krieg* gegen die kleinen Parteien.",
        ["watched_word:krieg"],
    ),
]


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    app = create_app(
        {
            "INSTANCE_PATH": tmp,
            "SECRET_KEY": "screenshot",
            "MIN_SUBMIT_SECONDS": 0,
            "RATE_LIMIT_PER_MINUTE": 0,
            "RATE_LIMIT_PER_HOUR": 0,
        }
    )
    with app.app_context():
        db.create_all()
        create_site("tagesblatt", "Tagesblatt", [], "de")
        db.session.add(
            Moderator(
                username="anna",
                password_hash=generate_password_hash("screenshot password"),
                role=Role.ADMIN,
            )
        )
        db.session.commit()
    client = app.test_client()
    first = None
    minutes_ago = iter([95, 47, 31, 12, 4])
    for address, author, email, body, reasons in COMMENTS:
        payload = {"author": author, "body": body, "title": "Wahlrecht: Was die Reform ändert"}
        if email:
            payload["email"] = email
        if first is not None and author == "M. Weber":
            payload["parent_id"] = first
        created = client.post(THREAD, json=payload, environ_base={"REMOTE_ADDR": address})
        comment_id = created.get_json()["id"]
        with app.app_context():
            comment = db.session.get(Comment, comment_id)
            comment.reasons = reasons
            comment.created_at = utcnow() - timedelta(minutes=next(minutes_ago))
            db.session.commit()
            if first is None:
                decide(comment_id, "approve", Actor("anna"))
                first = comment_id

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.socket.getsockname()[1]}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_context(
            locale="de-DE", timezone_id="Europe/Berlin", viewport={"width": 1100, "height": 900}
        ).new_page()
        page.goto(f"{url}/moderate/login")
        page.fill('input[name="username"]', "anna")
        page.fill('input[name="password"]', "screenshot password")
        page.click('button[type="submit"]')
        page.wait_for_url(f"{url}/moderate/")
        page.keyboard.press("j")
        page.keyboard.press("x")
        out = ROOT / "docs/screenshots/moderation-queue.png"
        page.screenshot(path=str(out), full_page=True)
        browser.close()
    server.shutdown()
    print(f"saved {out}")


if __name__ == "__main__":
    main()
