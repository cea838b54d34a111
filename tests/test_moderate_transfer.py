"""A site's Import/Export page (moderation/moderate/transfer.py): the past imports with their
counts, how to import on the command line, and the JSON and WXR exports to download; admins
only. The imports are real ones, of the format fixtures, on both databases."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from a11y import assert_accessible
from flask import Flask
from flask_babel import format_datetime
from moderator_ui import PASSWORD, add_moderator, logged_in
from servers import LiveServer
from sqlalchemy import select

from moderation import transfer
from moderation.extensions import db
from moderation.models import Comment, CommentStatus, ImportRun, Site
from moderation.moderate import transfer as transfer_page
from moderation.sites import create_site
from moderation.transfer import wordpress
from moderation.transfer.records import Post, SkipReason, Thread

FIXTURES = Path(__file__).parent / "fixtures" / "transfer"
DISQUS = FIXTURES / "disqus.xml"
SITE_PAGE = "/moderate/admin/sites/demo"
PAGE = "/moderate/admin/sites/demo/transfer"
JSON_EXPORT = "/moderate/admin/sites/demo/export.json"
WXR_EXPORT = "/moderate/admin/sites/demo/export.wxr"
ATTACHMENT = re.compile(r'attachment; filename="demo-export-[0-9]{4}-[0-9]{2}-[0-9]{2}\.(\w+)"')


def imported(app: Flask, source: str, path: Path, site: str = "demo") -> transfer.Report:
    """An import as the CLI runs it, by the CLI user anna."""
    with app.app_context():
        report = transfer.import_file(
            source, str(path), site, transfer.Options(), actor_name="cli:anna"
        )
        db.session.remove()
    return report


def main(html: str) -> str:
    return html[html.index("<main") : html.index("</main>")]


def english(client: Any, path: str = PAGE) -> str:
    response = client.get(path, headers={"Accept-Language": "en"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return main(response.get_data(as_text=True))


def test_the_site_page_links_the_import_export_page(app: Flask) -> None:
    admin = logged_in(app, "ada", admin=True)
    html = admin.get(SITE_PAGE, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert f'href="{PAGE}"' in html and "Import/Export" in html


def test_the_page_lists_past_imports_with_their_counts(app: Flask) -> None:
    first = imported(app, "disqus", DISQUS)
    again = imported(app, "disqus", DISQUS)  # a rerun: everything is there already
    assert first.total_imported > 0 and again.total_imported == 0
    with app.app_context():  # an import that was stopped (or is still running)
        db.session.add(
            ImportRun(
                site_id=db.session.scalars(select(Site.id).where(Site.slug == "demo")).one(),
                source="wordpress",
                file_name="/srv/exports/blog.xml",
                actor_name="cli:bert",
                counts={"imported": {"approved": 2000}, "replies": 12, "skipped": {}},
            )
        )
        db.session.commit()
        runs = db.session.scalars(select(ImportRun).order_by(ImportRun.id)).all()
        db.session.expunge_all()
    admin = logged_in(app, "ada", admin=True)
    html = english(admin)

    assert "Nothing has been imported" not in html
    assert "<caption>" in html and 'scope="col">Started<' in html
    ids = [int(n) for n in re.findall(r'id="import-run-([0-9]+)"', html)]
    assert ids == [run.id for run in reversed(runs)]  # newest first
    rows = dict(zip(ids, re.findall(r"<tr class=\"import-run\".*?</tr>", html, re.S), strict=True))

    row = rows[runs[0].id]
    assert "cli:anna" in row and ">disqus<" in row
    assert "<code>disqus.xml</code>" in row and "fixtures" not in html  # the file's name only
    parts = ", ".join(f"{status} {n}" for status, n in sorted(first.imported.items()))
    assert f">{first.total_imported} ({parts})<" in row
    assert f">{first.replies}<" in row
    assert f"deleted in the source {first.skipped['deleted']}" in row
    assert "finished" in row
    with app.test_request_context(headers={"Accept-Language": "en"}):
        started = format_datetime(runs[0].started_at, "short")  # in the UI's time zone
    assert f'<th scope="row"><time datetime="{runs[0].started_at.isoformat()}">{started}' in row

    rerun = rows[runs[1].id]
    assert ">0<" in rerun and f"imported before {first.total_imported}" in rerun

    stopped = rows[runs[2].id]
    assert "cli:bert" in stopped and "<code>blog.xml</code>" in stopped
    assert ">2,000 (approved 2,000)<" in stopped and ">12<" in stopped
    assert "interrupted or still running" in stopped and "finished" not in stopped
    assert "the same command again continues it" in html

    german = main(admin.get(PAGE, headers={"Accept-Language": "de"}).get_data(as_text=True))
    assert "Frühere Importe" in german and "Begonnen" in german
    assert ">2.000 (freigegeben 2.000)<" in german
    assert "abgeschlossen" in german and "abgebrochen oder läuft noch" in german
    assert f"schon früher importiert {first.total_imported}" in german


def test_the_empty_page_says_so_and_tells_how_to_import(app: Flask) -> None:
    admin = logged_in(app, "ada", admin=True)
    html = english(admin)
    assert "Nothing has been imported into this site yet." in html
    assert "<table" not in html
    assert "<code>flask --app wsgi import disqus FILE --site demo</code>" in html
    assert "Formats: disqus, wordpress, isso, remark42, commento, json." in html
    assert set(transfer.FORMATS) == {"disqus", "wordpress", "isso", "remark42", "commento", "json"}
    assert "--dry-run" in html
    links = re.findall(r'href="([^"]*)"', html)
    assert links and all(link.startswith("/moderate/") for link in links)  # nothing external
    assert f'href="{JSON_EXPORT}"' in html and f'href="{WXR_EXPORT}"' in html
    assert "Download the export (JSON)" in html and "Download the export (WXR)" in html

    german = main(admin.get(PAGE, headers={"Accept-Language": "de"}).get_data(as_text=True))
    for text in (
        "Import/Export",
        "Frühere Importe",
        "In diese Website wurde noch nichts importiert.",
        "Export herunterladen (JSON)",
        "Export herunterladen (WXR)",
        "Importe laufen auf der Kommandozeile des Servers",
    ):
        assert text in german, text
    assert "Past imports" not in german


def test_the_json_download_is_a_whole_export_that_imports_again(app: Flask, tmp_path: Path) -> None:
    report = imported(app, "disqus", DISQUS)
    admin = logged_in(app, "ada", admin=True)
    response = admin.get(JSON_EXPORT)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    match = ATTACHMENT.fullmatch(response.headers["Content-Disposition"])
    assert match and match[1] == "json"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data()
    # Spooled before it is sent: no read transaction waits for a slow download.
    assert int(response.headers["Content-Length"]) == len(body)
    document = json.loads(body)
    assert document["format"] == "moderation-export"
    assert document["site"]["slug"] == "demo"
    assert len(document["comments"]) == report.total_imported
    assert {c["source"] for c in document["comments"]} == {"disqus"}

    # What was downloaded is an import of its own: the other site gets the same comments.
    path = tmp_path / "download.json"
    path.write_bytes(body)
    with app.app_context():
        create_site("zweite", "Zweite Zeitung", [], "de")
        db.session.remove()
    again = imported(app, "json", path, site="zweite")
    assert dict(again.imported) == dict(report.imported)
    html = english(admin, "/moderate/admin/sites/zweite/transfer")
    assert ">json<" in html and "<code>download.json</code>" in html


@pytest.mark.parametrize("spool_bytes", [8 * 1024 * 1024, 64])  # in memory, then on disk
def test_the_wxr_download_parses_as_wordpress_export(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spool_bytes: int
) -> None:
    monkeypatch.setattr(transfer_page, "SPOOL_BYTES", spool_bytes)
    monkeypatch.setattr(transfer_page, "CHUNK", 100)  # many pieces, read back in order
    report = imported(app, "disqus", DISQUS)
    admin = logged_in(app, "ada", admin=True)
    response = admin.get(WXR_EXPORT)
    assert response.status_code == 200
    assert response.mimetype == "application/rss+xml"
    match = ATTACHMENT.fullmatch(response.headers["Content-Disposition"])
    assert match and match[1] == "xml"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data()
    assert int(response.headers["Content-Length"]) == len(body) > 1000

    path = tmp_path / "download.xml"
    path.write_bytes(body)
    items = list(wordpress.read(str(path)))
    posts = [item for item in items if isinstance(item, Post)]
    threads = [item for item in items if isinstance(item, Thread)]
    assert len(posts) == report.imported["approved"]  # the approved comments only
    assert threads
    with app.app_context():
        authors = set(
            db.session.scalars(
                select(Comment.author).where(Comment.status == CommentStatus.APPROVED)
            )
        )
    assert {post.author for post in posts} == authors


def test_moderators_anonymous_and_unknown_sites_are_refused(app: Flask) -> None:
    admin = logged_in(app, "ada", admin=True)
    moderator = logged_in(app, "mona")
    anonymous = app.test_client()
    for path in (PAGE, JSON_EXPORT, WXR_EXPORT):
        assert moderator.get(path).status_code == 403, path
        response = anonymous.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/moderate/login?next=")
        unknown = path.replace("/sites/demo/", "/sites/nowhere/")
        response = admin.get(unknown)
        assert response.status_code == 404, unknown
        assert "Content-Disposition" not in response.headers
    html = moderator.get(PAGE, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Only administrators may do this." in html
    assert admin.post(PAGE).status_code in (400, 405)  # nothing to post here


def test_every_reason_to_skip_has_a_label() -> None:
    assert set(transfer_page.SKIP_LABELS) == {reason.value for reason in SkipReason}


@pytest.mark.browser
def test_the_page_with_imports_has_no_serious_violations(
    app: Flask, live_server: LiveServer, reader: Callable[..., Any]
) -> None:
    imported(app, "disqus", DISQUS)
    add_moderator(app, "ada", admin=True)
    page = reader()
    page.goto(f"{live_server.url}/moderate/login")
    page.get_by_label("Benutzername").fill("ada")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(f"{live_server.url}/moderate/")
    page.goto(f"{live_server.url}{PAGE}")
    page.get_by_role("table", name="Importe in Demo-Zeitung").wait_for()
    assert_accessible(page, "the import/export page with imports")
    assert not page.errors, page.errors
