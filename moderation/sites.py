"""Host sites: who may embed comments, in which language, from which origins, under which policy."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any, cast
from urllib.parse import urlsplit

from flask import current_app, has_request_context, request
from flask_babel import gettext
from sqlalchemy import bindparam, select

from . import approved, database, rules, wordlists
from .errors import Conflict, InvalidInput, NotFound, enum_member
from .extensions import db
from .models import Language, Site, SiteSnapshot

SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
# Slugs a site cannot have: the reader's pages take them (/embed/report/<comment id> is the
# report form, which a site "report" with numbered articles would otherwise share).
RESERVED_SLUGS = frozenset({"report"})


def normalize_origin(value: str) -> str:
    """``https://Example.org/path`` → ``https://example.org``; raises :class:`InvalidInput`."""
    invalid = InvalidInput(
        f"{value!r} is not an origin like https://www.example.org.", code="invalid_origin"
    )
    try:
        parts = urlsplit(value.strip())
        port = parts.port  # raises for a port that is no number or out of range
    except ValueError:
        raise invalid from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid
    origin = f"{parts.scheme}://{parts.hostname.lower()}"
    if port and port != {"http": 80, "https": 443}[parts.scheme]:
        origin += f":{port}"
    return origin


def _language(language: str) -> Language:
    message = f"The language must be {' or '.join(rules.LANGUAGES)}."
    return enum_member(Language, language, message, "invalid_language")


def _name(name: str) -> str:
    if not name.strip():
        raise InvalidInput(gettext("A site needs a name."), code="invalid_name")
    return name.strip()


@database.writes
def create_site(slug: str, name: str, origins: Iterable[str] = (), language: str = "de") -> Site:
    """Add a host site and commit; raises :class:`InvalidInput` or :class:`Conflict`."""
    if not SLUG.fullmatch(slug):
        raise InvalidInput(
            gettext("A site slug is 1–64 lowercase letters, digits and dashes."),
            code="invalid_slug",
        )
    if slug in RESERVED_SLUGS:
        raise Conflict(
            f"The slug {slug!r} is reserved: /embed/{slug}/… is a page of the service.",
            code="reserved_slug",
        )
    name = _name(name)
    lang = _language(language)
    if db.session.scalars(select(Site).where(Site.slug == slug)).first() is not None:
        raise Conflict(f"A site {slug!r} exists already.", code="site_exists")
    site = Site(
        slug=slug,
        name=name,
        origins=_origins(origins),
        language=lang,
    )
    db.session.add(site)
    return site


def _origins(origins: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(normalize_origin(o) for o in origins if o.strip()))


_site = database.table(Site)
# The snapshot's fields, read from the site's columns of the same names.
_SNAPSHOT_FIELDS = [field.name for field in fields(SiteSnapshot)]
_SNAPSHOT = select(*(_site.c[name] for name in _SNAPSHOT_FIELDS)).where(
    _site.c.slug == bindparam("slug")
)


def snapshot(slug: str) -> SiteSnapshot:
    """The site with this slug, read for the reader-facing endpoints; raises :class:`NotFound`.

    Every comment and form the widget sends starts here, so the row comes straight from the
    driver (:func:`moderation.database.read_one`): no ORM session, and no transaction left open
    while the request goes on.

    On PostgreSQL each worker keeps the sites it has read, as it keeps the lists' states
    (:mod:`moderation.state_cache`): a trigger tells every worker of every change of a site
    (migration 0010), and whenever the listener cannot be trusted the row is read again. A
    submission then asks the database nothing before its own transaction. A snapshot is
    immutable, so one object can serve every request.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    watch = approved.watch_of(app)
    generation = watch.generation() if watch is not None else None
    if generation is not None:
        assert watch is not None
        found = watch.get_site(slug)
        if found is not None:
            return cast(SiteSnapshot, found)
    row = database.read_one(_SNAPSHOT, {"slug": slug})
    if row is None:
        raise NotFound(f"There is no site {slug!r}.", code="unknown_site")
    site: dict[str, Any] = dict(zip(_SNAPSHOT_FIELDS, row, strict=True))
    for name in ("origins", "blocked_words", "watched_words"):
        site[name] = tuple(database.Driver.json(site[name]) or ())
    site["language"] = Language(site["language"])
    site["paused"] = bool(site["paused"])
    read = SiteSnapshot(**site)
    if generation is not None:
        assert watch is not None
        watch.put_site(generation, slug, read)
    return read


def get_site(slug: str) -> Site:
    """The site with this slug, to change it; raises :class:`NotFound`."""
    site = db.session.scalars(select(Site).where(Site.slug == slug)).first()
    if site is None:
        raise NotFound(f"There is no site {slug!r}.", code="unknown_site")
    return site


@database.writes
def update_site(slug: str, *, name: str, origins: Iterable[str], language: str) -> Site:
    """Change a site's name, allowed origins and language, and commit.

    Raises :class:`InvalidInput` naming the first bad value; then nothing changes.
    """
    site = get_site(slug)
    values = {"name": _name(name), "origins": _origins(origins), "language": _language(language)}
    for key, value in values.items():
        setattr(site, key, value)
    return site


def list_sites() -> Sequence[Site]:
    return db.session.scalars(select(Site).order_by(Site.slug)).all()


def own_origin() -> str:
    """The service's own origin: ``PUBLIC_URL``'s when set, else the request's.

    The request's ``Host`` header is whatever the client sent; a page on a rebound DNS name
    could make it match its own origin. A configured public URL cannot be talked into that.
    """
    public = current_app.config.get("PUBLIC_URL")
    if public:
        return normalize_origin(public)
    return f"{request.scheme}://{request.host}"


def origin_allowed(site: Site | SiteSnapshot, origin: str | None) -> bool:
    """May a page of ``origin`` post comments to this site?

    No ``Origin`` header means no browser page sent it (curl, a server): there is no ambient
    credential to abuse, so that is allowed. The service's own pages are always allowed.
    """
    if origin is None:
        return True
    return origin == own_origin() or origin in (site.origins or [])


def origin_known(origin: str | None) -> bool:
    """Is ``origin`` allowed by some site here (or this service, or no browser page at all)?"""
    if origin is None or origin == own_origin():
        return True
    return any(origin in (origins or []) for origins in db.session.scalars(select(Site.origins)))


def url_on_site(site: Site | SiteSnapshot, url: str) -> bool:
    """Is ``url`` an address on one of the site's own origins (or on this service)?

    An article's address comes from its first commenter; only the site's own pages may be it,
    so moderators never get a link to a page someone else chose. Only addresses that browsers
    read as Python does: no credentials, backslashes, spaces or invisible characters
    (``https://evil.example\\@news.example/`` leads a browser to evil.example).
    """
    if "\\" in url or any(char.isspace() or rules.is_hidden(char) for char in url):
        return False
    try:
        parts = urlsplit(url)
        origin = normalize_origin(f"{parts.scheme}://{parts.netloc}")
    except (InvalidInput, ValueError):
        return False
    if "@" in parts.netloc:
        return False
    return origin in (site.origins or []) or (has_request_context() and origin == own_origin())


# --- policy: word lists, limits, pause ------------------------------------------------------


class Keep(enum.Enum):
    """Leave a setting as it is (``None`` means something else: "use the service default")."""

    KEEP = "keep"


KEEP = Keep.KEEP
MAX_LINKS_LIMIT = 1000
MAX_RATE_LIMIT = 100_000


@dataclass(frozen=True)
class Policy:
    """A site's abuse policy as it applies now: its own values, or the service defaults."""

    paused: bool
    max_links: int
    max_links_is_default: bool
    rate_limit_per_minute: int  # 0: off
    rate_limit_per_minute_is_default: bool
    rate_limit_per_hour: int
    rate_limit_per_hour_is_default: bool
    blocked_words: list[str]
    watched_words: list[str]


def policy(site: Site | SiteSnapshot) -> Policy:
    config = current_app.config

    def pick(own: int | None, name: str) -> tuple[int, bool]:
        return (int(config[name]), True) if own is None else (own, False)

    max_links, links_default = pick(site.max_links, "MAX_LINKS")
    per_minute, minute_default = pick(site.rate_limit_per_minute, "RATE_LIMIT_PER_MINUTE")
    per_hour, hour_default = pick(site.rate_limit_per_hour, "RATE_LIMIT_PER_HOUR")
    return Policy(
        paused=site.paused,
        max_links=max_links,
        max_links_is_default=links_default,
        rate_limit_per_minute=per_minute,
        rate_limit_per_minute_is_default=minute_default,
        rate_limit_per_hour=per_hour,
        rate_limit_per_hour_is_default=hour_default,
        blocked_words=list(site.blocked_words or []),
        watched_words=list(site.watched_words or []),
    )


def _number(value: int | None | Keep, name: str, high: int) -> int | None | Keep:
    if value is KEEP or value is None:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise InvalidInput(
            f"{name} must be a whole number from 0 to {high} (or the default).",
            code="invalid_policy",
            fields={name: "Invalid."},
        )
    return value


@database.writes
def update_policy(
    slug: str,
    *,
    paused: bool | Keep = KEEP,
    max_links: int | None | Keep = KEEP,
    rate_limit_per_minute: int | None | Keep = KEEP,
    rate_limit_per_hour: int | None | Keep = KEEP,
    blocked_words: Iterable[str] | Keep = KEEP,
    watched_words: Iterable[str] | Keep = KEEP,
    overdue_minutes: int | None | Keep = KEEP,
    trust_readers: bool | Keep = KEEP,
    trust_min_approved: int | Keep = KEEP,
    trust_days: int | Keep = KEEP,
    report_hold_after: int | None | Keep = KEEP,
    removal_grounds: Iterable[str] | None | Keep = KEEP,
) -> Site:
    """Change a site's abuse policy and commit; what is not given stays as it is.

    Numbers are 0 or more (``0`` switches a rate limit off; ``max_links=0`` holds every link);
    ``None`` returns a number to the service default. Word lists are replaced as a whole (see
    :func:`moderation.wordlists.clean_entries`). ``overdue_minutes`` (1 to
    :data:`rules.MAX_OVERDUE_MINUTES`, or None for no limit) is how long the oldest pending
    comment may wait before the moderators are alerted (:mod:`moderation.notify.moderators`);
    a new limit starts a new episode. ``trust_readers`` publishes trusted readers' comments
    at once (:mod:`moderation.trust`): after ``trust_min_approved`` (1 to
    :data:`rules.MAX_TRUST_MIN_APPROVED`) approved comments within ``trust_days`` (1 to
    :data:`rules.MAX_TRUST_DAYS`). ``report_hold_after`` (1 to
    :data:`rules.MAX_REPORT_HOLD_AFTER`, or None: never) sends a published comment back to the
    queue after that many open reports (:mod:`moderation.reports`); ``removal_grounds`` is the
    site's own list of grounds for removals (codes like ``off_topic``; None: the defaults,
    :data:`rules.REMOVAL_GROUNDS`). Raises :class:`NotFound` for an unknown site and
    :class:`InvalidInput` for a bad value, changing nothing.
    """
    checked: dict[str, object] = {
        "max_links": _number(max_links, "max_links", MAX_LINKS_LIMIT),
        "rate_limit_per_minute": _number(
            rate_limit_per_minute, "rate_limit_per_minute", MAX_RATE_LIMIT
        ),
        "rate_limit_per_hour": _number(rate_limit_per_hour, "rate_limit_per_hour", MAX_RATE_LIMIT),
    }
    if paused is not KEEP and not isinstance(paused, bool):
        raise InvalidInput("paused must be true or false.", code="invalid_policy")
    if trust_readers is not KEEP and not isinstance(trust_readers, bool):
        raise InvalidInput("trust_readers must be true or false.", code="invalid_policy")
    checked["trust_readers"] = trust_readers
    checked["trust_min_approved"] = _trust_number(
        trust_min_approved,
        "trust_min_approved",
        rules.MAX_TRUST_MIN_APPROVED,
        gettext(
            "A trusted reader needs 1 to %(max)s approved comments.",
            max=rules.MAX_TRUST_MIN_APPROVED,
        ),
    )
    checked["trust_days"] = _trust_number(
        trust_days,
        "trust_days",
        rules.MAX_TRUST_DAYS,
        gettext("The trust period is 1 to %(max)s days.", max=rules.MAX_TRUST_DAYS),
    )
    if blocked_words is not KEEP:
        checked["blocked_words"] = wordlists.clean_entries(blocked_words, label="blocked list")
    if watched_words is not KEEP:
        checked["watched_words"] = wordlists.clean_entries(watched_words, label="watched list")
    if paused is not KEEP:
        checked["paused"] = paused
    if overdue_minutes is not KEEP:
        checked["overdue_minutes"] = _overdue_minutes(overdue_minutes)
    if report_hold_after is not KEEP:
        checked["report_hold_after"] = _report_hold_after(report_hold_after)
    if removal_grounds is not KEEP:
        checked["removal_grounds"] = _removal_grounds(removal_grounds)
    site = get_site(slug)
    if "overdue_minutes" in checked and checked["overdue_minutes"] != site.overdue_minutes:
        site.overdue_alerted_at = None
    for name, value in checked.items():
        if value is not KEEP:
            setattr(site, name, value)
    return site


def _report_hold_after(value: int | None) -> int | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not (1 <= value <= rules.MAX_REPORT_HOLD_AFTER)
    ):
        message = gettext(
            "A comment is held after 1 to %(max)s reports, or never.",
            max=rules.MAX_REPORT_HOLD_AFTER,
        )
        raise InvalidInput(message, code="invalid_policy", fields={"report_hold_after": message})
    return value


def _removal_grounds(codes: Iterable[str] | None) -> list[str] | None:
    """A site's own grounds: short codes, each once, at most :data:`rules.MAX_REMOVAL_GROUNDS`;
    None (or an empty list) means the service's defaults."""
    if codes is None:
        return None
    found = list(dict.fromkeys(code.strip() for code in codes if code.strip()))
    message = gettext(
        "Grounds are codes of lower-case letters, digits and _ (at most %(max)s of them).",
        max=rules.MAX_REMOVAL_GROUNDS,
    )
    if len(found) > rules.MAX_REMOVAL_GROUNDS or not all(
        rules.GROUND_CODE.fullmatch(code) for code in found
    ):
        raise InvalidInput(message, code="invalid_policy", fields={"removal_grounds": message})
    return found or None


def _trust_number(value: int | Keep, name: str, high: int, message: str) -> int | Keep:
    if value is KEEP:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise InvalidInput(message, code="invalid_trust", fields={name: message})
    return value


def _overdue_minutes(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        value = 0
    if not 1 <= value <= rules.MAX_OVERDUE_MINUTES:
        message = gettext(
            "The overdue limit is 1 to %(max)s minutes, or none.", max=rules.MAX_OVERDUE_MINUTES
        )
        raise InvalidInput(
            message, code="invalid_overdue_minutes", fields={"overdue_minutes": message}
        )
    return value


@database.writes
def update_site_settings(
    slug: str,
    *,
    name: str,
    origins: Iterable[str],
    language: str,
    overdue_minutes: int | None,
    trust_readers: bool | Keep = KEEP,
    trust_min_approved: int | Keep = KEEP,
    trust_days: int | Keep = KEEP,
) -> Site:
    """The site's admin form: :func:`update_site`, the overdue limit and the trust settings
    (see :func:`update_policy`) in one transaction, so a bad value anywhere changes nothing."""
    update_site(slug, name=name, origins=origins, language=language)
    return update_policy(
        slug,
        overdue_minutes=overdue_minutes,
        trust_readers=trust_readers,
        trust_min_approved=trust_min_approved,
        trust_days=trust_days,
    )
