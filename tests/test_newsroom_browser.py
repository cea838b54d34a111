"""Issue 14's widget features in headless Chromium, the news site on another origin: the
"Redaktion" and "Redaktionsempfehlung" badges, the sort switch remembered per browser, "load
more" on an 800-comment thread with replies kept under their parents, a permalink to a comment
on a later page, and the report form (a field error first, then a stored report)."""

# The fixture host comes from test_embed_browser, and tests take it by name (hence F811).
# ruff: noqa: F811

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from servers import LiveServer
from test_embed_browser import ARTICLE, expect, host  # noqa: F401 (a fixture)

from moderation.extensions import db
from moderation.models import Article, Comment, CommentStatus, Report, Site, utcnow

pytestmark = pytest.mark.browser


def seed_thread(app: Flask, n: int, *, reply_every: int = 0, back: int = 0) -> list[int]:
    """``n`` approved comments on the demo article, oldest first; every ``reply_every``-th one
    answers the top-level comment ``back`` places before it. Their ids, oldest first."""
    with app.app_context():
        site = db.session.scalars(db.select(Site).where(Site.slug == "demo")).one()
        article = Article(site_id=site.id, key=ARTICLE, version=1, approved_count=n)
        db.session.add(article)
        db.session.flush()
        start = utcnow() - timedelta(days=1)
        comments: list[Comment] = []
        for i in range(n):
            parent = None
            if reply_every and i % reply_every == reply_every - 1 and i >= back:
                candidate = comments[i - back]
                parent = candidate.id if candidate.parent_id is None else None
            comment = Comment(
                article_id=article.id,
                parent_id=parent,
                author=f"Leser {i}",
                body_raw=f"Beitrag {i}",
                body_html=f"<p>Beitrag {i}</p>",
                status=CommentStatus.APPROVED,
                created_at=start + timedelta(seconds=i),
            )
            db.session.add(comment)
            db.session.flush()
            comments.append(comment)
        ids = [c.id for c in comments]
        db.session.commit()
        db.session.remove()
    return ids


def mark(app: Flask, comment_id: int, **flags: bool) -> None:
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        assert comment is not None
        for name, value in flags.items():
            setattr(comment, name, value)
        db.session.execute(db.update(Article).values(version=Article.version + 1))
        db.session.commit()
        db.session.remove()


def test_badges_and_the_sort_switch_remembered(
    app: Flask, host: LiveServer, reader: Callable[..., Any]
) -> None:
    first, second, third = seed_thread(app, 3)
    mark(app, second, staff=True)
    mark(app, third, featured=True)
    page = reader()
    page.goto(f"{host.url}/")
    widget = page.locator("#comments")
    expect(widget.locator(f"#comment-{second} .cm-staff")).to_have_text("Redaktion")
    expect(widget.locator(f"#comment-{third} .cm-pick")).to_have_text("Redaktionsempfehlung")
    expect(widget.locator(f"#comment-{first} .cm-badge")).to_have_count(0)
    articles = widget.locator("li[id^=comment-]")
    expect(articles.first).to_have_id(f"comment-{first}")
    widget.get_by_label("Kommentare sortieren").select_option(label="Neueste zuerst")
    expect(articles.first).to_have_id(f"comment-{third}")
    # Remembered in this browser: the next visit opens newest first.
    page.reload()
    expect(widget.get_by_label("Kommentare sortieren")).to_have_value("newest")
    expect(articles.first).to_have_id(f"comment-{third}")
    widget.get_by_label("Kommentare sortieren").select_option("featured")
    expect(articles.first).to_have_id(f"comment-{third}")
    expect(articles.nth(1)).to_have_id(f"comment-{first}")
    # The permalink is the comment's time.
    link = widget.locator(f"#comment-{first} header a")
    expect(link).to_have_attribute("href", f"#comment-{first}")
    assert page.errors == []


def test_load_more_on_800_comments_keeps_replies_under_their_parents(
    app: Flask, host: LiveServer, reader: Callable[..., Any]
) -> None:
    ids = seed_thread(app, 800, reply_every=5, back=120)
    page = reader()
    page.goto(f"{host.url}/")
    page.evaluate("localStorage.setItem('cm-sort', JSON.stringify('newest'))")
    page.reload()
    widget = page.locator("#comments")
    expect(widget.locator("h2")).to_have_text("800 Kommentare")
    more = widget.get_by_role("button", name="Weitere Kommentare laden")
    idle = widget.locator(".cm-more:not([disabled])")  # hidden after the last page
    # Newest first, a reply comes before its parent: it waits for it.
    with app.app_context():
        newest_reply = db.session.scalars(
            db.select(Comment).where(Comment.parent_id.is_not(None)).order_by(Comment.id.desc())
        ).first()
        assert newest_reply is not None
        reply, parent = newest_reply.id, newest_reply.parent_id
        db.session.remove()
    assert parent is not None and ids.index(reply) - ids.index(parent) == 120
    expect(widget.locator(f"#comment-{ids[799]}")).to_have_count(1)
    expect(widget.locator(f"#comment-{reply}")).to_have_count(0)  # its parent is 120 back
    for _ in range(3):  # pages 2 to 4 of 50: the parent is not there yet, nor the reply
        more.click()
        expect(idle).to_have_count(1)
    expect(widget.locator(f"#comment-{reply}")).to_have_count(0)
    more.click()
    expect(idle).to_have_count(1)  # page 5 brings the parent, and the reply under it
    expect(widget.locator(f"#comment-{parent} .cm-replies #comment-{reply}")).to_have_count(1)
    while more.is_visible():
        more.click()
        expect(idle).to_have_count(1)
    expect(widget.locator("li[id^=comment-]")).to_have_count(800)
    nested = page.evaluate(
        """() => [...document.querySelector('#comments').shadowRoot
            .querySelectorAll('.cm-replies > li')].length"""
    )
    with app.app_context():
        replies = db.session.scalar(
            db.select(db.func.count()).select_from(Comment).where(Comment.parent_id.is_not(None))
        )
        db.session.remove()
    assert nested == replies and replies > 50  # every reply sits under its parent
    assert page.errors == []


def test_a_permalink_opens_the_thread_at_a_comment_on_a_later_page(
    app: Flask, host: LiveServer, reader: Callable[..., Any]
) -> None:
    ids = seed_thread(app, 800)
    target = ids[333]  # the seventh page of 50
    page = reader(viewport={"width": 390, "height": 844})
    page.goto(f"{host.url}/#comment-{target}")
    item = page.locator(f"#comments #comment-{target}")
    expect(item).to_be_in_viewport()
    expect(page.locator("#comments li[id^=comment-]")).to_have_count(350)
    assert page.errors == []


def test_the_widget_report_form_shows_field_errors_then_stores_the_report(
    app: Flask, host: LiveServer, reader: Callable[..., Any]
) -> None:
    (comment_id,) = seed_thread(app, 1)
    page = reader()
    page.goto(f"{host.url}/")
    widget = page.locator("#comments")
    flag = widget.locator(f"#comment-{comment_id}").get_by_role("button", name="Melden")
    flag.click()
    expect(flag).to_have_attribute("aria-expanded", "true")
    category = widget.get_by_label("Was ist an diesem Kommentar nicht in Ordnung?")
    category.select_option(label="Rechtswidriger Inhalt")
    law = widget.get_by_label("Gegen welches Gesetz", exact=False)
    expect(law).to_be_visible()
    widget.get_by_label("Begründung").fill("Volksverhetzung im zweiten Satz.")
    widget.get_by_role("button", name="Meldung senden").click()
    # No law named, no good faith: both errors, the first field focused, nothing stored.
    expect(law).to_have_attribute("aria-invalid", "true")
    expect(law).to_be_focused()
    expect(widget.locator("#cm-r-law-error")).not_to_be_empty()
    expect(widget.locator("#cm-r-good_faith-error")).not_to_be_empty()
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Report)) == 0
        db.session.remove()
    law.fill("§ 130 StGB")
    widget.locator("#cm-r-good_faith").check()
    widget.get_by_role("button", name="Meldung senden").click()
    expect(widget.locator(".cm-status")).to_contain_text("Danke! Wir haben Ihre Meldung erhalten.")
    expect(flag).to_be_focused()
    expect(widget.locator("#cm-r-law")).to_have_count(0)
    with app.app_context():
        report = db.session.scalars(db.select(Report)).one()
        assert (report.comment_id, report.category, report.law) == (
            comment_id,
            "illegal",
            "§ 130 StGB",
        )
        db.session.remove()
    assert page.errors == []
