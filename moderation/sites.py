"""Host sites: who may embed comments, in which language, from which origins."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from sqlalchemy import select

from .errors import Conflict, InvalidInput
from .extensions import db
from .models import Language, Site

SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def normalize_origin(value: str) -> str:
    """``https://Example.org/path`` → ``https://example.org``; raises :class:`InvalidInput`."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            f"{value!r} is not an origin like https://www.example.org.", code="invalid_origin"
        )
    origin = f"{parts.scheme}://{parts.hostname.lower()}"
    if parts.port and parts.port != {"http": 80, "https": 443}[parts.scheme]:
        origin += f":{parts.port}"
    return origin


def create_site(slug: str, name: str, origins: Iterable[str] = (), language: str = "de") -> Site:
    """Add a host site and commit; raises :class:`InvalidInput` or :class:`Conflict`."""
    if not SLUG.fullmatch(slug):
        raise InvalidInput(
            "A site slug is 1–64 lowercase letters, digits and dashes.", code="invalid_slug"
        )
    if not name.strip():
        raise InvalidInput("A site needs a name.", code="invalid_name")
    try:
        lang = Language(language)
    except ValueError:
        raise InvalidInput("The language must be de or en.", code="invalid_language") from None
    if db.session.scalars(select(Site).where(Site.slug == slug)).first() is not None:
        raise Conflict(f"A site {slug!r} exists already.", code="site_exists")
    site = Site(
        slug=slug,
        name=name.strip(),
        origins=list(dict.fromkeys(normalize_origin(o) for o in origins)),
        language=lang,
    )
    db.session.add(site)
    db.session.commit()
    return site


def list_sites() -> Sequence[Site]:
    return db.session.scalars(select(Site).order_by(Site.slug)).all()


def origin_allowed(site: Site, origin: str | None, own_origin: str) -> bool:
    """May a page of ``origin`` post comments to this site?

    No ``Origin`` header means no browser page sent it (curl, a server): there is no ambient
    credential to abuse, so that is allowed. The service's own pages are always allowed.
    """
    if origin is None:
        return True
    return origin == own_origin or origin in (site.origins or [])
