"""Measure the widget's first render of an 800-comment thread on a phone-sized viewport.

Run: ``.venv/bin/python benchmarks/widget_render.py`` (needs Debian's ``chromium``). Seeds a
temporary SQLite database with one article of 800 approved comments (every fifth a reply),
serves the service and a host page on two local ports (two origins, as on a news site), and
opens the page in headless Chromium at 390×844 (an iPhone 12's CSS viewport) with the CPU
slowed four times (Chrome DevTools' "mid-tier mobile" preset). It prints, per run and as the
median, Chromium's performance timing (``performance.now()``, milliseconds since navigation
start) at the moment the widget shows its first page, and the script's gzipped size.

It also prints the widget's own part: from the moment ``embed.js`` has arrived (its resource
timing's ``responseEnd``) to the first page on screen, which covers the two API requests and
the rendering. The budget (docs/embedding.md): the first page (50 comments) is on screen
within 2,500 ms of navigation start with the CPU slowed 4×, on a local network. No test
enforces it: timings depend on the machine; run this before and after a change to the widget.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import threading
from datetime import timedelta
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from moderation import create_app
from moderation.extensions import db
from moderation.models import Article, Comment, CommentStatus, Site, utcnow
from moderation.public.embed import load_script
from moderation.sites import create_site

CHROMIUM = "/usr/bin/chromium"
BUDGET_MS = 2500
RUNS = 5
COMMENTS = 800
ARTICLE = "lang"
SHOWN = (
    "() => { const r = document.querySelector('#comments').shadowRoot;"
    " return r && r.querySelectorAll('.cm-list > li').length > 0; }"
)


def _serve(app: Any) -> tuple[str, Any]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


def _seed(app: Any, host_origin: str) -> None:
    with app.app_context():
        db.create_all()
        create_site("demo", "Demo-Zeitung", [host_origin], "de")
        site = db.session.scalars(db.select(Site)).one()
        article = Article(site_id=site.id, key=ARTICLE, version=1, approved_count=COMMENTS)
        db.session.add(article)
        db.session.flush()
        start = utcnow() - timedelta(days=1)
        ids: list[int] = []
        for i in range(COMMENTS):
            parent = ids[i - 3] if i % 5 == 4 else None
            comment = Comment(
                article_id=article.id,
                parent_id=parent,
                author=f"Leserin {i}",
                body_raw="Ein längerer Beitrag. " * 8,
                body_html="<p>" + "Ein längerer Beitrag. " * 8 + "</p>",
                status=CommentStatus.APPROVED,
                created_at=start + timedelta(seconds=i),
            )
            db.session.add(comment)
            db.session.flush()
            ids.append(comment.id)
        db.session.commit()


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as instance:
        app = create_app(
            {
                "INSTANCE_PATH": instance,
                "SECRET_KEY": "render",
                "DATABASE_URL": f"sqlite:///{instance}/bench.sqlite3",
            }
        )
        service, service_server = _serve(app)
        page_html = (
            '<!doctype html><html lang="de"><meta name="viewport" content="width=device-width">'
            f'<body><h1>Artikel</h1><div id="comments" data-site="demo" data-article="{ARTICLE}">'
            f'</div><script src="{service}/embed.js" defer></script></body></html>'
        )

        @Request.application
        def host_app(request: Request) -> Response:
            return Response(page_html, mimetype="text/html")

        host, host_server = _serve(host_app)
        _seed(app, host)
        with app.app_context():
            size = len(load_script("embed.js").gzipped)
        timings: list[float] = []
        widget: list[float] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            for run in range(RUNS):
                context = browser.new_context(
                    viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
                )
                page = context.new_page()
                cdp = context.new_cdp_session(page)
                cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
                # The widget starts when it nears the viewport; scroll there as a reader would.
                page.goto(f"{host}/#comments")
                page.wait_for_function(SHOWN, polling="raf")
                shown = float(page.evaluate("performance.now()"))
                arrived = float(
                    page.evaluate(
                        "performance.getEntriesByType('resource')"
                        ".find(e => e.name.endsWith('/embed.js')).responseEnd"
                    )
                )
                count = page.evaluate(
                    "document.querySelector('#comments').shadowRoot"
                    ".querySelectorAll('li[id^=comment-]').length"
                )
                print(
                    f"run {run + 1}: first page ({count} comments) shown at {shown:7.1f} ms, "
                    f"{shown - arrived:6.1f} ms after embed.js arrived"
                )
                if run:  # the first run warms the server's page cache and Chromium
                    timings.append(shown)
                    widget.append(shown - arrived)
                context.close()
            browser.close()
        service_server.shutdown()
        host_server.shutdown()
    median = statistics.median(timings)
    verdict = "within" if median <= BUDGET_MS else "OVER"
    print(
        f"median {median:.1f} ms (runs 2-{RUNS}), of which the widget's part "
        f"{statistics.median(widget):.1f} ms; budget {BUDGET_MS} ms: {verdict}"
    )
    print(f"embed.js {size} bytes gzipped (budget 8192)")


if __name__ == "__main__":
    main()
