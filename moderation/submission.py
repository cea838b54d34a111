"""Taking a reader's comment in: validate → sanitize → check → store as pending.

:func:`parse_submission` turns untrusted input into a :class:`Submission` or a field-by-field
:class:`~moderation.errors.InvalidInput`; :func:`submit_comment` stores it. Once it returns, the
comment is committed: an acknowledged comment is never lost. :func:`withdraw_comment` lets the
author take it back with the token they got.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext
from sqlalchemy import bindparam, insert, select, update

from . import checks, database, rules, sanitize, sites, trust
from .errors import Forbidden, InvalidInput, NotFound
from .extensions import db
from .models import Article, Comment, CommentStatus, FormTokenUse, Site, SiteSnapshot, utcnow
from .notify import outbox
from .review import Actor, change_status
from .rules import EMAIL, MAX_EMAIL_LENGTH, MAX_ID, MAX_TITLE_LENGTH, MAX_URL_LENGTH


@dataclass(frozen=True)
class Submission:
    """A comment as a reader sent it, after validation; ``body`` is still the raw text."""

    author: str
    body: str
    email: str | None = None
    parent_id: int | None = None
    title: str | None = None
    url: str | None = None
    form_token: str | None = None
    honeypot: str | None = None
    notify: bool = False  # mail the author when it is published or answered (once confirmed)
    reader_key: str | None = None  # the browser's key of a confirmed address (moderation.trust)


@dataclass(frozen=True)
class Accepted:
    comment_id: int
    token: str  # lets the author withdraw the comment; only its hash is stored
    approved: bool = False  # published at once: a trusted reader's (moderation.trust)


def validate_article_key(key: str) -> str:
    """An article key is a slug or a path like ``politik/2026/x`` (see :mod:`rules`)."""
    if not rules.is_article_key(key):
        raise InvalidInput(rules.ARTICLE_KEY_MESSAGE, code="invalid_article")
    return key


def _text(data: dict, name: str, errors: dict[str, str]) -> str | None:
    """The field as text, or None when it is missing; records an error for anything else."""
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        errors[name] = gettext("Must be text.")
        return None
    if not rules.is_valid_text(value):  # a lone surrogate ("\ud800") from JSON
        errors[name] = gettext("Contains characters that are not valid text.")
        return None
    return value


def _optional_text(data: dict, name: str, errors: dict[str, str]) -> str | None:
    value = _text(data, name, errors)
    return value.strip() or None if value is not None else None


def _visible(text: str) -> str | None:
    """The text as it will be kept, or None when nothing in it would show."""
    text = sanitize.normalize_text(text)
    return text if rules.has_visible_character(text) else None


def _is_web_address(url: str) -> bool:
    try:
        return urlsplit(url).scheme in ("http", "https")
    except ValueError:  # "https://[news.example": an unclosed IPv6 bracket
        return False


def parse_submission(data: Any) -> Submission:
    """Validate a submission; raises :class:`InvalidInput` naming every bad field.

    Lengths are checked here, before any costlier work: a body over the limit is refused
    without being read further. The messages are a reader's, in the current language (the face
    sets it: the site's); the name's and the comment's get their limit as ``n`` whether the
    English says it or not, so a translation may name it with every error of the field.
    """
    if not isinstance(data, dict):
        raise InvalidInput("The request body must be a JSON object.")
    errors: dict[str, str] = {}
    max_author = int(current_app.config["MAX_AUTHOR_LENGTH"])
    max_body = int(current_app.config["MAX_BODY_LENGTH"])

    author = _text(data, "author", errors)
    if author is not None:
        # Zero-width and bidi characters make one name look like another ("ad\u200bmin").
        author = _visible(rules.strip_invisible(author))
        if author is None:
            errors["author"] = gettext("Please enter a name.", n=max_author)
        else:
            author = " ".join(author.split())
            if len(author) > max_author:
                errors["author"] = gettext(
                    "The name may have at most %(n)s characters.", n=max_author
                )
    elif "author" not in errors:
        errors["author"] = gettext("Please enter a name.", n=max_author)

    body = _text(data, "body", errors)
    if body is not None:
        if len(body.strip()) > max_body:
            errors["body"] = gettext("The comment may have at most %(n)s characters.", n=max_body)
        elif rules.markup_characters(body) > rules.MAX_MARKUP_CHARACTERS:
            errors["body"] = gettext(
                "The comment may use < and & at most %(n)s times.",
                n=rules.MAX_MARKUP_CHARACTERS,
            )
        # Normalizing only drops characters that never show, so the raw text tells; render()
        # normalizes it once, later.
        elif not rules.has_visible_character(body):
            errors["body"] = gettext("Please write a comment.", n=max_body)
    elif "body" not in errors:
        errors["body"] = gettext("Please write a comment.", n=max_body)

    email = _optional_text(data, "email", errors)
    if email is not None and (len(email) > MAX_EMAIL_LENGTH or not EMAIL.fullmatch(email)):
        errors["email"] = gettext("This is not a valid e-mail address.")

    parent_id = data.get("parent_id")
    if parent_id is not None and (
        isinstance(parent_id, bool)
        or not isinstance(parent_id, int)
        or not 1 <= parent_id <= MAX_ID
    ):
        errors["parent_id"] = gettext("Must be the id of a comment.")

    title = _optional_text(data, "title", errors)
    if title is not None and len(title) > MAX_TITLE_LENGTH:
        errors["title"] = gettext(
            "The title may have at most %(n)s characters.", n=MAX_TITLE_LENGTH
        )
    url = _optional_text(data, "url", errors)
    if url is not None and (len(url) > MAX_URL_LENGTH or not _is_web_address(url)):
        errors["url"] = gettext("Must be an http or https address.")

    notify = data.get("notify", False)
    if notify is None:
        notify = False
    if not isinstance(notify, bool):
        errors["notify"] = gettext("Must be true or false.")
    elif notify and email is None and "email" not in errors:
        errors["email"] = gettext("Give your e-mail address to be notified.")

    reader_key = _optional_text(data, "reader_key", errors)
    if reader_key is not None and not rules.READER_KEY.fullmatch(reader_key):
        errors["reader_key"] = gettext("This is not a valid reader key.")

    form_token = _optional_text(data, "form_token", errors)
    honeypot = _optional_text(data, "website", errors)

    # A missing author or body always has its error above; the test says so to the type checker.
    if errors or author is None or body is None:
        raise InvalidInput(gettext("Some fields need another look."), fields=errors)
    return Submission(
        author=author,
        body=body.strip(),
        email=email,
        parent_id=parent_id,
        title=title,
        url=url,
        form_token=form_token,
        honeypot=honeypot,
        notify=notify is True,
        reader_key=reader_key,
    )


# The write transaction's statements, straight on the driver (see database.writes_on_driver).
_article = database.table(Article)
_comment = database.table(Comment)
_ARTICLE = select(_article.c.id, _article.c.closed, _article.c.title, _article.c.url).where(
    _article.c.site_id == bindparam("site_id"), _article.c.key == bindparam("key")
)
# Two first comments on an article can arrive at once (on two PostgreSQL hosts, say): the
# unique (site_id, key) lets one insert win; the other inserts nothing and reads that row.
# The columns left out get the model's defaults (open, version 0, no approved comments).
_NEW_ARTICLE = database.insert_or_ignore(
    _article,
    [_article.c.site_id, _article.c.key],
    **database.parameters("site_id", "key", "title", "url", "created_at"),
)
# A title or address the article lacks, from a later comment (see _article_for).
_SET_ARTICLE = {
    column: update(_article)
    .values({column: bindparam("value")})
    .where(_article.c.id == bindparam("article_id"))
    for column in ("title", "url")
}
_PARENT = select(_comment.c.article_id, _comment.c.status).where(
    _comment.c.id == bindparam("parent_id")
)
_COMMENT_COLUMNS = (
    "article_id",
    "parent_id",
    "author",
    "email",
    "body_raw",
    "body_html",
    "policy_version",
    "status",
    "reasons",
    "source_hash",
    "token_hash",
    "notify",
    "created_at",
    "decided_at",
)
# SQLite: the database numbers the comment, and says which number it gave.
_NEW_COMMENT = (
    insert(_comment).values(**database.parameters(*_COMMENT_COLUMNS)).returning(_comment.c.id)
)
# PostgreSQL: the number is drawn from the comment's sequence beforehand, with the
# transaction's reads (as the column's default would draw it), so nothing that follows waits
# for an answer: the comment, its outbox event and the COMMIT travel together. The sequence
# is the one PostgreSQL makes for the serial id: tests/test_api.py and test_migrations.py
# check the name against pg_get_serial_sequence, which would cost a catalog search per call.
_NEXT_COMMENT_ID = f"SELECT nextval('{_comment.name}_id_seq')"
_NEW_NUMBERED_COMMENT = insert(_comment).values(**database.parameters("id", *_COMMENT_COLUMNS))


def _article_for(
    driver: database.Driver, ctx: checks.CheckContext, submission: Submission, asked: Any
) -> tuple[int, bool]:
    """The thread for this key as (id, closed), created on its first comment; ``asked`` is
    the :data:`_ARTICLE` query, sent already (:meth:`database.Driver.later`).

    A title or address the article lacks is taken from the first comment that brings one.
    """
    key = {"site_id": ctx.site.id, "key": ctx.article_key}
    row = asked.fetchone()
    if row is None:
        created = {
            "title": submission.title,
            "url": submission.url,
            "created_at": driver.timestamp(ctx.now),
        }
        driver.execute(_NEW_ARTICLE, key | created)
        row = driver.one(_ARTICLE, key)
        assert row is not None
    article_id, closed, title, url = row
    for column, value, known in (("title", submission.title, title), ("url", submission.url, url)):
        if value and not known:
            driver.execute(_SET_ARTICLE[column], {"value": value, "article_id": article_id})
    return article_id, bool(closed)


def submit_comment(
    site: SiteSnapshot, article_key: str, submission: Submission, *, source_hash: str | None
) -> Accepted:
    """Store a comment on a site's article as pending (or spam, if a check says so) and commit.

    The work that needs only the request (the request checks, sanitizing, the token) is done
    first; :func:`_store` then runs the history checks and stores the comment in one short write
    transaction, so writers queue for as little time as possible.

    Raises :class:`Forbidden` when commenting is closed,
    :class:`InvalidInput` for a bad reply target, or whatever a refusing check raises; in every
    such case nothing is stored.
    """
    validate_article_key(article_key)
    if site.paused:
        raise Forbidden(gettext("Comments are temporarily closed."), code="paused")
    if submission.url is not None and not sites.url_on_site(site, submission.url):
        raise InvalidInput(
            gettext("Some fields need another look."),
            fields={"url": gettext("Must be an address on one of the site's own origins.")},
        )
    ctx = checks.CheckContext(
        site=site,
        article_key=article_key,
        author=submission.author,
        email=submission.email,
        body=submission.body,
        source_hash=source_hash,
        now=utcnow(),
        form_token=submission.form_token,
        honeypot=submission.honeypot,
    )
    on_request = checks.run_checks(ctx, checks.Stage.REQUEST)
    checks.refuse_while_told_to_wait(ctx)  # a flood costs no transaction
    token = secrets.token_urlsafe(24)
    html = None
    if db.engine.dialect.name == "sqlite":
        # SQLite's write transaction locks the whole database, so the text is rendered before
        # it begins, after a first look at the rate limit: a flood costs no rendering. _store
        # counts again, under the lock. PostgreSQL's locks only this reader's source, and
        # _store renders between the checks' answers and the INSERT, sparing that round trip.
        checks.refuse_over_rate_limit(ctx)
        html = sanitize.render(submission.body)
    comment_id, approved = _store(ctx, submission, on_request, html, hash_token(token))
    return Accepted(comment_id, token, approved)


@database.writes_on_driver  # BEGIN IMMEDIATE on SQLite, retried on a lock: no comment is lost
def _store(
    driver: database.Driver,
    ctx: checks.CheckContext,
    submission: Submission,
    on_request: checks.Verdict,
    html: str | None,
    token_hash: str,
) -> tuple[int, bool]:
    """The write transaction of :func:`submit_comment`: the new comment's id, and whether it
    was published at once (a trusted reader's, see :mod:`moderation.trust`).

    Everything it reads is asked for first and read afterwards: the article, the reply's
    parent, the history checks' queries (after the source's lock), the form token's spending
    and, on PostgreSQL, the new comment's number. There they travel to the server in one round
    trip, and the comment, its outbox event and the ``COMMIT`` in one more (see
    :func:`moderation.database.writes_on_driver`). The outcomes are then judged in the order
    they always were, so the answer is the same: a closed article, a bad reply target, the
    history checks (a 429 first), a replayed form. Whatever is refused rolls back. The text is
    rendered here when ``html`` is None (PostgreSQL, see :func:`submit_comment`), once nothing
    has refused it.
    """
    ctx = dataclasses.replace(ctx, driver=driver)
    article = driver.later(_ARTICLE, {"site_id": ctx.site.id, "key": ctx.article_key})
    parent = None
    if submission.parent_id is not None:
        parent = driver.later(_PARENT, {"parent_id": submission.parent_id})
    history = checks.start_checks(ctx, checks.Stage.HISTORY)
    spent = _spend_form_token(driver, ctx) if ctx.form_token else None
    number = None if driver.sqlite else driver.later(_NEXT_COMMENT_ID)

    article_id, closed = _article_for(driver, ctx, submission, article)
    if closed:
        raise Forbidden(gettext("Comments are closed for this article."), code="closed")
    if parent is not None:
        found = parent.fetchone()
        if found is None or tuple(found) != (article_id, CommentStatus.APPROVED):
            raise InvalidInput(
                gettext("You can only reply to a published comment of this article."),
                fields={"parent_id": gettext("Not a published comment of this article.")},
            )
    on_history = history()
    if spent is not None and spent.rowcount == 0:
        raise InvalidInput(
            "This form was sent already. Please send your comment again.",
            code="invalid_form_token",
        )
    verdict = checks.Verdict(on_request.findings + on_history.findings)
    status = CommentStatus.SPAM if verdict.is_spam else CommentStatus.PENDING
    # Trust comes last: any reason a check raised keeps the comment in the queue.
    trusted = not verdict.findings and trust.is_trusted(
        driver,
        site_id=ctx.site.id,
        email=submission.email,
        reader_key=submission.reader_key,
        now=ctx.now,
    )
    reasons = [trust.TRUSTED] if trusted else verdict.reasons
    if trusted:
        status = CommentStatus.APPROVED
    if html is None:
        html = sanitize.render(submission.body)
    values = {
        "article_id": article_id,
        "parent_id": submission.parent_id,
        "author": submission.author,
        "email": submission.email,
        "body_raw": submission.body,
        "body_html": html,
        "policy_version": sanitize.POLICY_VERSION,
        "status": status.value,
        "reasons": json.dumps(reasons),
        "source_hash": ctx.source_hash,
        "token_hash": token_hash,
        "notify": submission.notify,
        "created_at": driver.timestamp(ctx.now),
        "decided_at": driver.timestamp(ctx.now) if trusted else None,
    }
    if number is None:
        inserted = driver.one(_NEW_COMMENT, values)
        assert inserted is not None, "INSERT … RETURNING gives the new row"
        (comment_id,) = inserted
    else:
        (comment_id,) = number.fetchone()
        driver.execute(_NEW_NUMBERED_COMMENT, {"id": comment_id, **values})
    # Moderators, webhooks and the author's confirmation mail hear of it through the outbox.
    outbox.event_on_driver(
        driver,
        "comment.created",
        site_id=ctx.site.id,
        comment_id=comment_id,
        now=ctx.now,
        status=status.value,
    )
    if trusted:
        trust.publish(
            driver, site_id=ctx.site.id, article_id=article_id, comment_id=comment_id, now=ctx.now
        )
    return comment_id, trusted


_form_token_use = database.table(FormTokenUse)
_SPEND_FORM_TOKEN = database.insert_or_ignore(
    _form_token_use,
    [_form_token_use.c.token_hash],
    **database.parameters("token_hash", "expires_at"),
)


def _spend_form_token(driver: database.Driver, ctx: checks.CheckContext) -> Any:
    """Accept each form token once: a replayed form is refused and nothing is stored.

    Spent inside the write transaction, so a submission that is refused later (or rolled back)
    leaves its token usable, and two submissions racing with one token cannot both be stored.
    Sent with the transaction's reads (:meth:`database.Driver.later`); :func:`_store` refuses
    the form when its ``rowcount`` says the token was there already.
    """
    assert ctx.form_token is not None
    expires = ctx.now + timedelta(seconds=int(current_app.config["FORM_TOKEN_MAX_AGE"]))
    return driver.later(
        _SPEND_FORM_TOKEN,
        {"token_hash": hash_token(ctx.form_token), "expires_at": driver.timestamp(expires)},
    )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@database.writes
def withdraw_comment(
    comment_id: int, token: str | None, *, allow: Callable[[Site], None] | None = None
) -> Comment:
    """The author takes a comment back: its text is erased, an audit event remains.

    Raises :class:`InvalidInput` without a token, and :class:`NotFound` both for an unknown
    comment and for a token that does not match: the answer tells no one which ids exist.
    ``allow`` then checks the request against the comment's site (its allowed origins) and
    raises to refuse. Withdrawing twice is harmless.
    """
    if not token:
        raise InvalidInput(
            "Send the token you got with the comment in the X-Comment-Token header.",
            code="missing_token",
        )
    comment = None
    if comment_id <= MAX_ID:  # larger numbers are no id, and too large for the database
        comment = db.session.get(Comment, comment_id, with_for_update=True)
    if (
        comment is None
        or comment.token_hash is None
        or not secrets.compare_digest(comment.token_hash, hash_token(token))
    ):
        raise NotFound(f"There is no comment {comment_id} with this token.", code="unknown_comment")
    if allow is not None:
        allow(comment.article.site)
    if comment.status != CommentStatus.WITHDRAWN:
        comment.body_raw = ""
        comment.body_html = ""
        comment.email = None
        change_status(comment, CommentStatus.WITHDRAWN, Actor("author"))
    return comment
