"""Taking a reader's comment in: validate → sanitize → check → store as pending.

:func:`parse_submission` turns untrusted input into a :class:`Submission` or a field-by-field
:class:`~moderation.errors.InvalidInput`; :func:`submit_comment` stores it. Once it returns, the
comment is committed: an acknowledged comment is never lost. :func:`withdraw_comment` lets the
author take it back with the token they got.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import checks, database, sanitize
from .errors import Forbidden, InvalidInput, NotFound
from .extensions import db
from .models import Article, Comment, CommentStatus, Site, utcnow
from .review import Actor, change_status

ARTICLE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~\-/]{0,199}")
# Deliberately simple: one @, something on each side, a dot in the domain, no spaces.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_EMAIL_LENGTH = 254
MAX_TITLE_LENGTH = 300
MAX_URL_LENGTH = 2000
MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL; larger numbers name nothing


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


@dataclass(frozen=True)
class Accepted:
    comment: Comment
    token: str  # lets the author withdraw the comment; only its hash is stored


def validate_article_key(key: str) -> str:
    """An article key is 1–200 URL-safe characters: a slug or a path like ``politik/2026/x``."""
    if not ARTICLE_KEY.fullmatch(key) or "//" in key:
        raise InvalidInput(
            "The article key must be 1–200 characters of letters, digits and . _ ~ - /.",
            code="invalid_article",
        )
    return key


def _optional_text(data: dict, name: str, errors: dict[str, str]) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        errors[name] = "Must be text."
        return None
    return value.strip() or None


def parse_submission(data: Any) -> Submission:
    """Validate a submission; raises :class:`InvalidInput` naming every bad field."""
    if not isinstance(data, dict):
        raise InvalidInput("The request body must be a JSON object.")
    errors: dict[str, str] = {}
    max_author = int(current_app.config["MAX_AUTHOR_LENGTH"])
    max_body = int(current_app.config["MAX_BODY_LENGTH"])

    author = data.get("author")
    if not isinstance(author, str) or not sanitize.normalize_text(author):
        errors["author"] = "Please enter a name."
    else:
        author = " ".join(sanitize.normalize_text(author).split())
        if len(author) > max_author:
            errors["author"] = f"The name may have at most {max_author} characters."

    body = data.get("body")
    if not isinstance(body, str) or not sanitize.normalize_text(body):
        errors["body"] = "Please write a comment."
    elif len(body.strip()) > max_body:
        errors["body"] = f"The comment may have at most {max_body} characters."

    email = _optional_text(data, "email", errors)
    if email is not None and (len(email) > MAX_EMAIL_LENGTH or not EMAIL.fullmatch(email)):
        errors["email"] = "This is not a valid e-mail address."

    parent_id = data.get("parent_id")
    if parent_id is not None and (
        isinstance(parent_id, bool)
        or not isinstance(parent_id, int)
        or not 1 <= parent_id <= MAX_ID
    ):
        errors["parent_id"] = "Must be the id of a comment."

    title = _optional_text(data, "title", errors)
    if title is not None and len(title) > MAX_TITLE_LENGTH:
        errors["title"] = f"The title may have at most {MAX_TITLE_LENGTH} characters."
    url = _optional_text(data, "url", errors)
    if url is not None and (
        len(url) > MAX_URL_LENGTH or urlsplit(url).scheme not in ("http", "https")
    ):
        errors["url"] = "Must be an http or https address."

    form_token = _optional_text(data, "form_token", errors)
    honeypot = _optional_text(data, "website", errors)

    if errors:
        raise InvalidInput("Some fields need another look.", fields=errors)
    return Submission(
        author=author,
        body=body.strip(),
        email=email,
        parent_id=parent_id,
        title=title,
        url=url,
        form_token=form_token,
        honeypot=honeypot,
    )


def get_site(slug: str) -> Site:
    """The site with this slug; raises :class:`NotFound`."""
    site = db.session.scalars(select(Site).where(Site.slug == slug)).first()
    if site is None:
        raise NotFound(f"There is no site {slug!r}.", code="unknown_site")
    return site


def _get_or_create_article(site: Site, key: str, title: str | None, url: str | None) -> Article:
    """The thread for this key, created on its first comment.

    Two first comments can arrive at once on two workers; the unique constraint lets one
    insert win and the other reads what it wrote.
    """
    query = select(Article).where(Article.site_id == site.id, Article.key == key)
    article = db.session.scalars(query).first()
    if article is None:
        try:
            with db.session.begin_nested():
                article = Article(site_id=site.id, key=key, title=title, url=url)
                db.session.add(article)
        except IntegrityError:
            article = db.session.scalars(query).one()
    if title and not article.title:
        article.title = title
    if url and not article.url:
        article.url = url
    return article


@database.writes  # BEGIN IMMEDIATE on SQLite, retried on a lock: no comment is lost
def submit_comment(
    site: Site, article_key: str, submission: Submission, *, source_hash: str | None
) -> Accepted:
    """Store a comment on a site's article as pending (or spam, if a check says so) and commit.

    Raises :class:`Forbidden` when commenting is closed,
    :class:`InvalidInput` for a bad reply target, or whatever a refusing check raises; in every
    such case nothing is stored.
    """
    validate_article_key(article_key)
    try:
        if site.paused:
            raise Forbidden(checks.PAUSED_MESSAGE[site.language], code="paused")
        article = _get_or_create_article(site, article_key, submission.title, submission.url)
        if article.closed:
            raise Forbidden("Comments are closed for this article.", code="closed")
        if submission.parent_id is not None:
            parent = db.session.get(Comment, submission.parent_id)
            if (
                parent is None
                or parent.article_id != article.id
                or parent.status != CommentStatus.APPROVED
            ):
                raise InvalidInput(
                    "You can only reply to a published comment of this article.",
                    fields={"parent_id": "Not a published comment of this article."},
                )
        verdict = checks.run_checks(
            checks.CheckContext(
                site=site,
                article=article,
                author=submission.author,
                email=submission.email,
                body=submission.body,
                source_hash=source_hash,
                now=utcnow(),
                form_token=submission.form_token,
                honeypot=submission.honeypot,
            )
        )
        token = secrets.token_urlsafe(24)
        comment = Comment(
            article_id=article.id,
            parent_id=submission.parent_id,
            author=submission.author,
            email=submission.email,
            body_raw=submission.body,
            body_html=sanitize.render(submission.body),
            policy_version=sanitize.POLICY_VERSION,
            status=CommentStatus.SPAM if verdict.is_spam else CommentStatus.PENDING,
            reasons=verdict.reasons,
            source_hash=source_hash,
            token_hash=hash_token(token),
        )
        db.session.add(comment)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return Accepted(comment, token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@database.writes
def withdraw_comment(comment_id: int, token: str | None) -> Comment:
    """The author takes a comment back: its text is erased, an audit event remains.

    Raises :class:`InvalidInput` without a token, :class:`NotFound` for an unknown comment and
    :class:`Forbidden` when the token does not match. Withdrawing twice is harmless.
    """
    if not token:
        raise InvalidInput(
            "Send the token you got with the comment in the X-Comment-Token header.",
            code="missing_token",
        )
    comment = db.session.get(Comment, comment_id, with_for_update=True)
    if comment is None:
        db.session.rollback()
        raise NotFound(f"There is no comment {comment_id}.", code="unknown_comment")
    if comment.token_hash is None or not secrets.compare_digest(
        comment.token_hash, hash_token(token)
    ):
        db.session.rollback()
        raise Forbidden("This token does not belong to the comment.", code="bad_token")
    if comment.status != CommentStatus.WITHDRAWN:
        comment.body_raw = ""
        comment.body_html = ""
        comment.email = None
        change_status(comment, CommentStatus.WITHDRAWN, Actor("author"))
    db.session.commit()
    return comment
