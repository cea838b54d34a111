"""Readers report published comments (DSA Art. 16); moderators keep or remove them.

:func:`parse_report` turns untrusted input into a :class:`ReportInput` or a field-by-field
:class:`~moderation.errors.InvalidInput`; :func:`file_report` stores it for a *published*
comment, in one write transaction with everything it causes:

* the reporter's source hash (never the address itself), counted against
  ``REPORT_RATE_LIMIT_PER_HOUR``, so one sender cannot flood the queue with reports;
* after the site's ``report_hold_after`` open reports the comment goes back to the queue
  (``pending``, reason ``reported``), decided by ``system``;
* a receipt mail to the reporter, if they gave an address, through the outbox.

:func:`decide_reports` is the moderator's answer: keep the comment (its open reports are
dismissed; a comment held by reports is published again) or remove it (``rejected``, with a
ground). Reporters who gave an address then hear of the decision through the outbox.

A reporter's address is used only for these two mails, which they asked for by giving it; it
needs no double opt-in, but an address on the suppression list (it unsubscribed from our mails)
gets nothing. The address is never shown to moderators.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext
from sqlalchemy import BigInteger, bindparam, func, select

from . import database, form_tokens, privacy, rules
from .errors import InvalidInput, NotFound, RateLimited, enum_member
from .extensions import db
from .models import (
    Comment,
    CommentStatus,
    FormTokenUse,
    ModerationEvent,
    ReaderAddress,
    Report,
    ReportStatus,
    Site,
    utcnow,
)
from .notify import mail, outbox, readers
from .review import Actor, change_status

CATEGORIES = ("illegal", "insult", "spam", "off_topic", "other")
MAX_LAW_LENGTH = 500  # the column's size
MAX_EXPLANATION_LENGTH = 2000
REPORTED = "reported"  # the reason a comment held by reports carries in the queue

# The mails, by template (templates/mail/<topic>.txt|.html); the outbox row's topic too.
RECEIPT = "report/receipt"
DECISION = "report/decision"


@dataclass(frozen=True)
class ReportInput:
    """A report as a reader sent it, after validation."""

    category: str
    explanation: str
    law: str | None = None  # which law or ground, for illegal content
    email: str | None = None


def _text(data: dict, name: str, errors: dict[str, str]) -> str | None:
    """The field as stripped text, or None when missing or empty; records an error for
    anything that is not valid text."""
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        errors[name] = gettext("Must be text.")
        return None
    if not rules.is_valid_text(value):
        errors[name] = gettext("Contains characters that are not valid text.")
        return None
    value = value.strip()
    return value if rules.has_visible_character(value) else None


def parse_report(data: Any) -> ReportInput:
    """Validate a report; raises :class:`InvalidInput` naming every bad field.

    The messages are a reader's, in the current language (the face sets the site's).
    """
    if not isinstance(data, dict):
        raise InvalidInput("The request body must be a JSON object.")
    errors: dict[str, str] = {}

    category = data.get("category")
    if category not in CATEGORIES:
        errors["category"] = gettext("Choose what is wrong with the comment.")

    law = _text(data, "law", errors)
    if law is not None and len(law) > MAX_LAW_LENGTH:
        errors["law"] = gettext("At most %(n)s characters, please.", n=MAX_LAW_LENGTH)
    elif law is None and category == "illegal" and "law" not in errors:
        errors["law"] = gettext("Name the law or the ground the comment breaks.")

    explanation = _text(data, "explanation", errors)
    if explanation is not None and len(explanation) > MAX_EXPLANATION_LENGTH:
        errors["explanation"] = gettext(
            "At most %(n)s characters, please.", n=MAX_EXPLANATION_LENGTH
        )
    elif explanation is None and "explanation" not in errors:
        errors["explanation"] = gettext("Please explain what is wrong with the comment.")

    email = _text(data, "email", errors)
    if email is not None and (
        len(email) > rules.MAX_EMAIL_LENGTH or not rules.EMAIL.fullmatch(email)
    ):
        errors["email"] = gettext("This is not a valid e-mail address.")

    if data.get("good_faith") is not True:
        errors["good_faith"] = gettext("Please confirm that you report in good faith.")

    if errors or explanation is None or not isinstance(category, str):
        raise InvalidInput(gettext("Some fields need another look."), fields=errors)
    return ReportInput(
        category=category,
        explanation=explanation,
        law=law,
        email=email,
    )


def published_comment(comment_id: int, *, for_update: bool = False) -> Comment:
    """The published comment with this id; :class:`NotFound` for any other (unknown, pending,
    removed): a report can only be about what readers can see, and the answer tells no one
    which unpublished ids exist."""
    comment = None
    if rules.is_row_id(comment_id):
        query = select(Comment).where(Comment.id == comment_id)
        if for_update:
            query = query.with_for_update()
        comment = db.session.scalars(query).first()
    if comment is None or comment.status != CommentStatus.APPROVED:
        raise NotFound(
            gettext("There is no published comment %(id)s.", id=comment_id),
            code="unknown_comment",
        )
    return comment


_LOCK_SOURCE = select(func.pg_advisory_xact_lock(bindparam("key", type_=BigInteger)))


def _refuse_over_rate_limit(source_hash: str | None) -> None:
    """At most ``REPORT_RATE_LIMIT_PER_HOUR`` reports per source in any hour (0: no limit).

    Counted inside the write transaction; on PostgreSQL under an advisory lock on the source,
    on SQLite under ``BEGIN IMMEDIATE``, so two reports at once cannot both slip under it.
    """
    limit = int(current_app.config["REPORT_RATE_LIMIT_PER_HOUR"])
    if not source_hash or limit <= 0:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(b"report:" + source_hash.encode()).digest()
        db.session.execute(_LOCK_SOURCE, {"key": int.from_bytes(digest[:8], "big", signed=True)})
    now = utcnow()
    recent = db.session.scalars(
        select(Report.created_at)
        .where(Report.source_hash == source_hash, Report.created_at > now - timedelta(hours=1))
        .order_by(Report.created_at)
    ).all()
    if len(recent) >= limit:
        wait = max(1, int((recent[-limit] + timedelta(hours=1) - now).total_seconds()) + 1)
        raise RateLimited(
            gettext("You have sent many reports in a short time. Please try again later."),
            retry_after=wait,
        )


def form_token_scope(comment_id: int) -> str:
    """What a report form's token is issued for, in place of an article key (see
    :mod:`moderation.form_tokens`); the colon keeps it apart from every article key."""
    return f"report:{comment_id}"


def _spend_form_token(site_slug: str, comment_id: int, token: str) -> None:
    """Accept a no-JS report form's token once, for this comment only.

    Spent inside the report's transaction, under the comment's row lock, so a report that is
    refused later leaves it usable and two posts of one form cannot both be stored.
    """
    try:
        form_tokens.verify(token, site_slug, form_token_scope(comment_id))
    except form_tokens.InvalidFormToken as error:
        message = (
            gettext("This form has expired. Please open it again.")
            if error.expired
            else gettext("This form is not valid. Please open it again.")
        )
        raise InvalidInput(message, code="invalid_form_token") from None
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    if db.session.get(FormTokenUse, token_hash) is not None:
        raise InvalidInput(
            gettext("This form was sent already. Please open it again."),
            code="invalid_form_token",
        )
    expires = utcnow() + timedelta(seconds=int(current_app.config["FORM_TOKEN_MAX_AGE"]))
    db.session.add(FormTokenUse(token_hash=token_hash, expires_at=expires))


@database.writes
def file_report(
    comment_id: int,
    report: ReportInput,
    *,
    source_hash: str | None,
    form_token: str | None = None,
    require_form_token: bool = False,
) -> Report:
    """Store a report about a published comment and commit; see the module docstring.

    The no-JS page's form passes its ``form_token`` (``require_form_token``): it is checked
    and spent here. Raises :class:`NotFound` for a comment that is not published,
    :class:`InvalidInput` for a bad or spent form token, :class:`RateLimited` for a source over
    its limit; then nothing is stored and no mail is queued.
    """
    comment = published_comment(comment_id, for_update=True)  # orders the reports' counts
    if require_form_token:
        _spend_form_token(comment.article.site.slug, comment.id, form_token or "")
    _refuse_over_rate_limit(source_hash)
    site = comment.article.site
    row = Report(
        comment_id=comment.id,
        site_id=site.id,
        category=report.category,
        law=report.law,
        explanation=report.explanation,
        email=report.email,
        source_hash=source_hash,
    )
    db.session.add(row)
    db.session.flush()
    hold_after = site.report_hold_after
    if hold_after and open_report_count(comment.id) >= hold_after:
        comment.reasons = [*(r for r in comment.reasons if r != REPORTED), REPORTED]
        change_status(comment, CommentStatus.PENDING, Actor("system"), REPORTED)
    if report.email:
        _mail_reporter(RECEIPT, row, site, comment)
    return row


def open_report_count(comment_id: int) -> int:
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(Report)
            .where(Report.comment_id == comment_id, Report.status == ReportStatus.OPEN)
        )
        or 0
    )


def open_reports(comment_ids: Sequence[int]) -> dict[int, list[Report]]:
    """The open reports of these comments, oldest first, by comment (for the queue's cards)."""
    found: dict[int, list[Report]] = {}
    ids = [i for i in comment_ids if rules.is_row_id(i)]
    if not ids:
        return found
    for row in db.session.scalars(
        select(Report)
        .where(Report.comment_id.in_(ids), Report.status == ReportStatus.OPEN)
        .order_by(Report.created_at, Report.id)
    ):
        assert row.comment_id is not None
        found.setdefault(row.comment_id, []).append(row)
    return found


# --- the moderator's answer ------------------------------------------------------------------


class ReportDecision(enum.StrEnum):
    KEEP = "keep"  # the comment stays (or is published again); the reports are dismissed
    REMOVE = "remove"  # the comment is rejected with a ground; the reports are upheld


def parse_report_decision(value: ReportDecision | str) -> ReportDecision:
    message = gettext("Unknown decision; keep or remove the comment.")
    return enum_member(ReportDecision, value, message, "invalid_decision")


def site_grounds(site: Site) -> tuple[str, ...]:
    """The grounds a moderator of this site chooses from (the service's defaults unless set)."""
    return tuple(site.removal_grounds) if site.removal_grounds else rules.REMOVAL_GROUNDS


def category_label(code: str) -> str:
    """A report's category as readers and moderators read it, in the current language."""
    labels = {
        "illegal": gettext("Illegal content"),
        "insult": gettext("Insult or harassment"),
        "spam": gettext("Spam or advertising"),
        "off_topic": gettext("Off-topic"),
        "other": gettext("Other"),
    }
    return labels.get(code, code)


def ground_label(code: str) -> str:
    """A ground as moderators and authors read it, in the current language."""
    labels = {
        "off_topic": gettext("Off-topic"),
        "insult": gettext("Insult or harassment"),
        "hate_speech": gettext("Hate speech"),
        "spam": gettext("Spam or advertising"),
        "illegal": gettext("Illegal content"),
        "personal_data": gettext("Personal data"),
        "other": gettext("Other"),
    }
    return labels.get(code, code)


@database.writes
def decide_reports(
    comment_id: int,
    decision: ReportDecision | str,
    actor: Actor,
    *,
    ground: str | None = None,
    note: str | None = None,
) -> list[Report]:
    """Keep or remove a reported comment, close its open reports, tell their reporters; commit.

    Removing needs a ground from the site's list (:class:`InvalidInput` otherwise; nothing
    changes). Keeping a comment that reports put back in the queue publishes it again. Raises
    :class:`NotFound` for an unknown comment and :class:`InvalidInput` when it has no open
    reports (another moderator decided them meanwhile).
    """
    decision = parse_report_decision(decision)
    comment = None
    if rules.is_row_id(comment_id):
        comment = db.session.get(Comment, comment_id, with_for_update=True)
    if comment is None:
        raise NotFound(f"There is no comment {comment_id}.", code="unknown_comment")
    site = comment.article.site
    if decision is ReportDecision.REMOVE and ground not in site_grounds(site):
        raise InvalidInput(
            gettext("Choose the ground of the removal."),
            code="invalid_ground",
            fields={"ground": gettext("Choose one of the site's grounds.")},
        )
    rows = list(
        db.session.scalars(
            select(Report)
            .where(Report.comment_id == comment.id, Report.status == ReportStatus.OPEN)
            .order_by(Report.id)
            .with_for_update()
        )
    )
    if not rows:
        raise InvalidInput(
            gettext("This comment has no open reports (any more)."), code="no_open_reports"
        )
    event: ModerationEvent | None = None
    if decision is ReportDecision.REMOVE:
        if comment.status != CommentStatus.REJECTED:
            event = change_status(comment, CommentStatus.REJECTED, actor, note)
    elif comment.status == CommentStatus.PENDING:
        comment.reasons = [r for r in comment.reasons if r != REPORTED]
        event = change_status(comment, CommentStatus.APPROVED, actor, note)
    if event is not None and decision is ReportDecision.REMOVE:
        event.ground = ground
    now = utcnow()
    status = ReportStatus.UPHELD if decision is ReportDecision.REMOVE else ReportStatus.DISMISSED
    for row in rows:
        row.status = status
        row.decided_at = now
        row.decided_by_id = actor.moderator_id
        if row.email:
            _mail_reporter(DECISION, row, site, comment)
    return rows


# --- the reporter's mails --------------------------------------------------------------------


def _suppressed(email_hash: str) -> bool:
    """Whether the address unsubscribed from our mails (the readers' suppression list)."""
    unsubscribed = db.session.scalar(
        select(ReaderAddress.unsubscribed_at).where(ReaderAddress.email_hash == email_hash)
    )
    return unsubscribed is not None


def _mail_reporter(topic: str, report: Report, site: Site, comment: Comment) -> None:
    """Queue the receipt or the decision for the reporter, in the site's language.

    The mail quotes neither the comment nor the report: the address may not be the reporter's
    own (anyone can type any address into the form), so it says only what we did.
    """
    assert report.email is not None
    email_hash = privacy.address_hash(report.email)
    if _suppressed(email_hash):
        return
    language = site.language.value
    with mail.language(language):
        if topic == RECEIPT:
            subject = gettext("We received your report on %(site)s", site=site.name)
        else:
            subject = gettext("Your report on %(site)s: our decision", site=site.name)
        content = mail.compose(
            topic,
            subject=subject,
            unsubscribe_url=readers.unsubscribe_url(email_hash, language),
            site=site.name,
            report_id=report.id,
            comment_url=readers.comment_link(comment),
            removed=report.status == ReportStatus.UPHELD,
        )
    outbox.add_mail(
        topic,
        report.email,
        content,
        site_id=site.id,
        comment_id=comment.id,
        recipient_hash=email_hash,
    )
