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

import csv
import enum
import hashlib
import io
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext
from sqlalchemy import BigInteger, bindparam, func, or_, select

from . import database, form_tokens, grounds, privacy, rules
from .errors import InvalidInput, NotFound, RateLimited, enum_member
from .extensions import db
from .models import (
    Article,
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
from .review import OBJECTION, Actor, change_status, has_reason

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


def reported_count(cap: int | None = None) -> int:
    """How many comments have open reports or an open objection (at most ``cap``), for the
    queue's "Reported" tab."""
    query = select(Comment.id).where(
        or_(
            Comment.id.in_(select(Report.comment_id).where(Report.status == ReportStatus.OPEN)),
            has_reason(OBJECTION),
        )
    )
    if cap is not None:
        query = query.limit(cap)
    return int(db.session.scalar(select(func.count()).select_from(query.subquery())) or 0)


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


# The grounds live in moderation.grounds (the readers' mails name them too); kept here by name.
site_grounds = grounds.site_grounds
ground_label = grounds.label


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
    changes). Keeping a comment that reports put back in the queue publishes it again. The
    same two answers settle an author's objection to a removal (:func:`record_objection`):
    keep publishes the comment again, remove lets the removal stand, on the ground given now.
    Raises :class:`NotFound` for an unknown comment and :class:`InvalidInput` when it has
    neither open reports nor an open objection (another moderator decided them meanwhile).
    """
    decision = parse_report_decision(decision)
    comment = None
    if rules.is_row_id(comment_id):
        comment = db.session.get(Comment, comment_id, with_for_update=True)
    if comment is None:
        raise NotFound(f"There is no comment {comment_id}.", code="unknown_comment")
    site = comment.article.site
    if decision is ReportDecision.REMOVE:
        ground = grounds.check(site, ground)
    rows = list(
        db.session.scalars(
            select(Report)
            .where(Report.comment_id == comment.id, Report.status == ReportStatus.OPEN)
            .order_by(Report.id)
            .with_for_update()
        )
    )
    objected = OBJECTION in comment.reasons
    if not rows and not objected:
        raise InvalidInput(
            gettext("This comment has no open reports (any more)."), code="no_open_reports"
        )
    if comment.status == CommentStatus.WITHDRAWN:
        pass  # nothing left to keep or remove; the reports are closed all the same
    elif decision is ReportDecision.REMOVE:
        if comment.status != CommentStatus.REJECTED:
            change_status(comment, CommentStatus.REJECTED, actor, note, ground=ground)
        else:
            # An objection answered: the removal stands, on the ground given now.
            db.session.add(
                ModerationEvent(
                    comment_id=comment.id,
                    actor_id=actor.moderator_id,
                    actor_name=actor.name,
                    from_status=comment.status,
                    to_status=comment.status,
                    note=note or None,
                    ground=ground,
                )
            )
    elif comment.status == CommentStatus.PENDING or (
        objected and comment.status == CommentStatus.REJECTED
    ):
        comment.reasons = [r for r in comment.reasons if r != REPORTED]
        change_status(comment, CommentStatus.APPROVED, actor, note)
    comment.reasons = [r for r in comment.reasons if r not in (REPORTED, OBJECTION)]
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


# --- the transparency report (DSA Art. 15 / 24) ------------------------------------------------

_YEAR = re.compile(r"[0-9]{4}")


def parse_year(value: str | int) -> int:
    """A calendar year, 1970 to 9999; raises :class:`InvalidInput` for anything else."""
    text = str(value).strip()
    if not _YEAR.fullmatch(text) or not 1970 <= int(text) <= 9999:
        raise InvalidInput(
            f"Not a year: {text[:20]!r}; give it as YYYY, e.g. 2026.", code="bad_year"
        )
    return int(text)


def site_by_slug(slug: str) -> Site:
    """The site named ``slug``; :class:`NotFound` otherwise."""
    site = db.session.scalars(select(Site).where(Site.slug == slug)).first()
    if site is None:
        raise NotFound(f"There is no site {slug[:64]!r}.", code="unknown_site")
    return site


@dataclass(frozen=True)
class Transparency:
    """A site's year of notices and removals, as the transparency report gives them.

    Years are calendar years in UTC. ``reports_received`` counts reports by the moment they
    came in; ``decisions`` counts reports closed in the year by how (``kept``: the comment
    stayed, the report was dismissed; ``removed``: the comment was removed); the median time
    runs from a report's arrival to its decision, for the reports decided in the year.
    ``removals_by_ground`` counts every rejection with a ground in the year (whether a report,
    the queue or a revision led to it); an objection answered with "the removal stands" is
    not a second removal.
    """

    site: str
    year: int
    reports_received: dict[str, int]
    decisions: dict[str, int]
    median_seconds_to_decision: int | None
    removals_by_ground: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "year": self.year,
            "reports_received": self.reports_received,
            "reports_received_total": sum(self.reports_received.values()),
            "decisions": self.decisions,
            "median_seconds_to_decision": self.median_seconds_to_decision,
            "removals_by_ground": self.removals_by_ground,
            "removals_total": sum(self.removals_by_ground.values()),
        }

    def csv(self) -> str:
        """The same numbers as rows of ``section,key,value``."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["section", "key", "value"])
        writer.writerow(["site", "slug", self.site])
        writer.writerow(["site", "year", self.year])
        for code, count in self.reports_received.items():
            writer.writerow(["reports_received", code, count])
        for outcome, count in self.decisions.items():
            writer.writerow(["decisions", outcome, count])
        median = self.median_seconds_to_decision
        writer.writerow(["median_seconds_to_decision", "", "" if median is None else median])
        for code, count in self.removals_by_ground.items():
            writer.writerow(["removals_by_ground", code, count])
        return out.getvalue()


def transparency(slug: str, year: str | int) -> Transparency:
    """A site's transparency report for a calendar year; raises :class:`NotFound` for an
    unknown site and :class:`InvalidInput` for a bad year."""
    the_year = parse_year(year)
    site = site_by_slug(slug)
    start = datetime(the_year, 1, 1, tzinfo=UTC)
    end = (
        datetime(the_year + 1, 1, 1, tzinfo=UTC)
        if the_year < 9999
        else datetime.max.replace(tzinfo=UTC)
    )
    received = dict.fromkeys(CATEGORIES, 0)
    for category, count in db.session.execute(
        select(Report.category, func.count())
        .where(Report.site_id == site.id, Report.created_at >= start, Report.created_at < end)
        .group_by(Report.category)
    ):
        received[category] = received.get(category, 0) + count
    decisions = {"kept": 0, "removed": 0}
    waits: list[float] = []
    for status, created, decided in db.session.execute(
        select(Report.status, Report.created_at, Report.decided_at).where(
            Report.site_id == site.id,
            Report.decided_at.is_not(None),
            Report.decided_at >= start,
            Report.decided_at < end,
        )
    ):
        decisions["removed" if status == ReportStatus.UPHELD else "kept"] += 1
        if decided is not None:  # always, by the query; for the type checker
            waits.append(max(0.0, (decided - created).total_seconds()))
    by_ground = {code: 0 for code in grounds.site_grounds(site)}
    # Through the comment's article, or the site written on the events of a comment the
    # retention job has since removed (moderation.retention).
    for ground, count in db.session.execute(
        select(ModerationEvent.ground, func.count())
        .outerjoin(Comment, Comment.id == ModerationEvent.comment_id)
        .outerjoin(Article, Article.id == Comment.article_id)
        .where(
            or_(Article.site_id == site.id, ModerationEvent.site_id == site.id),
            ModerationEvent.to_status == CommentStatus.REJECTED,
            or_(
                ModerationEvent.from_status.is_(None),
                ModerationEvent.from_status != CommentStatus.REJECTED,
            ),
            ModerationEvent.ground.is_not(None),
            ModerationEvent.created_at >= start,
            ModerationEvent.created_at < end,
        )
        .group_by(ModerationEvent.ground)
    ):
        if ground is not None:  # always, by the query; for the type checker
            by_ground[ground] = by_ground.get(ground, 0) + count
    return Transparency(
        site=site.slug,
        year=the_year,
        reports_received=received,
        decisions=decisions,
        median_seconds_to_decision=round(statistics.median(waits)) if waits else None,
        removals_by_ground=by_ground,
    )


# --- an author's objection to a removal (DSA Art. 17 and 20) ----------------------------------

OBJECTION_NOTE = "Einspruch: "  # how an objection reads in the comment's history


def objection_comment(link: readers.ObjectionLink, *, for_update: bool = False) -> Comment:
    """The removed comment an objection link is about; :class:`NotFound` when it is gone or no
    longer carries the address the link was made for (erased), so the link says nothing."""
    comment = None
    if rules.is_row_id(link.comment_id):
        query = select(Comment).where(Comment.id == link.comment_id)
        if for_update:
            query = query.with_for_update()
        comment = db.session.scalars(query).first()
    if (
        comment is None
        or not comment.email
        or privacy.address_hash(comment.email) != link.email_hash
    ):
        raise NotFound(gettext("This comment is no longer here."), code="unknown_comment")
    return comment


def objection_state(comment: Comment) -> str:
    """What the objection page offers: ``open`` (a form), ``pending`` (an objection waits for a
    moderator) or ``settled`` (the comment is published again or withdrawn)."""
    if comment.status != CommentStatus.REJECTED:
        return "settled"
    return "pending" if OBJECTION in comment.reasons else "open"


def parse_objection(text: Any) -> str:
    """The author's objection as text; :class:`InvalidInput` for none, too long or not text."""
    errors: dict[str, str] = {}
    value = _text({"objection": text}, "objection", errors)
    if value is None and not errors:
        errors["objection"] = gettext("Please say why the decision is wrong.")
    elif value is not None and len(value) > MAX_EXPLANATION_LENGTH:
        errors["objection"] = gettext("At most %(n)s characters, please.", n=MAX_EXPLANATION_LENGTH)
    if errors or value is None:
        raise InvalidInput(gettext("Some fields need another look."), fields=errors)
    return value


@database.writes
def record_objection(link: readers.ObjectionLink, text: Any) -> ModerationEvent:
    """Record an author's objection in the comment's history and put it before moderators.

    The event is the author's (actor ``author``), changes no status and no ground, and notes
    ``Einspruch: …``; the comment carries the reason ``objection`` until a moderator decides
    again, so it shows in the queue's "Reported" view (and under the reason filter), where
    keep publishes it again and remove lets the removal stand. One open objection at a time.
    Raises :class:`NotFound` (see :func:`objection_comment`) or :class:`InvalidInput` (bad text,
    nothing to object to, an objection already waiting); then nothing changes.
    """
    objection = parse_objection(text)
    comment = objection_comment(link, for_update=True)
    state = objection_state(comment)
    if state == "pending":
        raise InvalidInput(
            gettext("Your objection is recorded already; a moderator will look at it."),
            code="objection_pending",
        )
    if state == "settled":
        raise InvalidInput(
            gettext("This comment is no longer removed; there is nothing to object to."),
            code="nothing_to_object",
        )
    comment.reasons = [*comment.reasons, OBJECTION]
    event = ModerationEvent(
        comment_id=comment.id,
        actor_name="author",
        from_status=comment.status,
        to_status=comment.status,
        note=OBJECTION_NOTE + objection,
    )
    db.session.add(event)
    return event
