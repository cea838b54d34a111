"""Moderator accounts: created by operators, passwords hashed with werkzeug, never stored plain."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from typing import Literal, overload

from flask_babel import gettext
from sqlalchemy import select, update
from werkzeug.security import check_password_hash, generate_password_hash

from . import database, rules
from .errors import Conflict, InvalidInput, NotFound
from .extensions import db
from .models import Moderator, NotifyMode, Role

USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
MIN_PASSWORD_LENGTH = 10

# Compared against when the username is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash(secrets.token_hex(8))


def validate_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            gettext("A password needs at least %(n)s characters.", n=MIN_PASSWORD_LENGTH),
            code="weak_password",
        )
    return password


def create_moderator(username: str, password: str, *, admin: bool = False) -> Moderator:
    """Add a moderator and commit; raises :class:`InvalidInput` or :class:`Conflict`."""
    if not USERNAME.fullmatch(username):
        raise InvalidInput(
            gettext("A username is 1–80 letters, digits, dots, dashes and underscores."),
            code="invalid_username",
        )
    # Hashed before the write transaction: it takes a while, and every writer would wait.
    password_hash = generate_password_hash(validate_password(password))
    return _add_moderator(username, password_hash, Role.ADMIN if admin else Role.MODERATOR)


@database.writes
def _add_moderator(username: str, password_hash: str, role: Role) -> Moderator:
    if get_moderator(username, required=False) is not None:
        raise Conflict(f"A moderator {username!r} exists already.", code="moderator_exists")
    moderator = Moderator(username=username, password_hash=password_hash, role=role)
    db.session.add(moderator)
    return moderator


@overload
def get_moderator(username: str, *, required: Literal[True] = True) -> Moderator: ...
@overload
def get_moderator(username: str, *, required: bool) -> Moderator | None: ...
def get_moderator(username: str, *, required: bool = True) -> Moderator | None:
    """The account with this name; raises :class:`NotFound` unless ``required=False``, which
    gives ``None`` instead."""
    moderator = db.session.scalars(select(Moderator).where(Moderator.username == username)).first()
    if moderator is None and required:
        raise NotFound(f"There is no moderator {username!r}.", code="unknown_moderator")
    return moderator


def list_moderators() -> Sequence[Moderator]:
    return db.session.scalars(select(Moderator).order_by(Moderator.username)).all()


@database.writes
def set_active(username: str, active: bool, *, by: Moderator | None = None) -> Moderator:
    """Activate or deactivate an account; a deactivated moderator's next request is refused.

    ``by`` is the admin acting, who may not lock themselves out (:class:`Conflict`).
    """
    moderator = get_moderator(username)
    if not active and by is not None and by.id == moderator.id:
        raise Conflict(gettext("You cannot deactivate your own account."), code="self_deactivation")
    moderator.active = active
    if not active:
        # Reactivating the account later must not bring its old sessions back to life.
        _bump_generation(moderator)
    return moderator


def set_password(username: str, password: str) -> Moderator:
    """A new password; every session opened with the old one ends."""
    # Hashed before the write transaction, as in create_moderator.
    return _store_password(username, generate_password_hash(validate_password(password)))


@database.writes
def _store_password(username: str, password_hash: str) -> Moderator:
    moderator = get_moderator(username)
    moderator.password_hash = password_hash
    _bump_generation(moderator)
    return moderator


def _bump_generation(moderator: Moderator) -> None:
    """Sessions carry the generation they were opened in; a new one ends them all.

    Computed in the database, so two bumps at once still both move it on.
    """
    moderator.session_generation = Moderator.session_generation + 1


@database.writes
def end_sessions(moderator_id: int) -> None:
    """End every session of this moderator, on every device (logging out does this)."""
    db.session.execute(
        update(Moderator)
        .where(Moderator.id == moderator_id)
        .values(session_generation=Moderator.session_generation + 1)
    )


def authenticate(username: str, password: str) -> Moderator | None:
    """The active moderator with these credentials, or None, without saying which part was wrong."""
    moderator = get_moderator(username, required=False)
    if moderator is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(moderator.password_hash, password) or not moderator.active:
        return None
    return moderator


@database.writes
def set_locale(moderator: Moderator, locale: str | None) -> Moderator:
    """The moderator's UI language (``de``/``en``), or None to follow the browser; commits."""
    if locale is not None and locale not in rules.LANGUAGES:
        raise InvalidInput(
            f"The language must be {' or '.join(rules.LANGUAGES)}.", code="invalid_language"
        )
    moderator.locale = locale
    return moderator


def check_notify_email(address: str | None) -> str | None:
    """A moderator's notification address, stripped (None for none); raises
    :class:`InvalidInput`. Printable only: it becomes a mail's ``To`` header."""
    address = (address or "").strip()
    if not address:
        return None
    if (
        len(address) > rules.MAX_EMAIL_LENGTH
        or not address.isprintable()
        or not rules.EMAIL.fullmatch(address)
    ):
        raise InvalidInput(
            gettext("This is not an e-mail address."),
            code="invalid_email",
            fields={"email": gettext("This is not an e-mail address.")},
        )
    return address


def _notify_mode(mode: str) -> NotifyMode:
    try:
        return NotifyMode(mode)
    except ValueError:
        message = gettext("The mode must be each, digest or off.")
        raise InvalidInput(message, code="invalid_mode", fields={"mode": message}) from None


def _digest_hours(hours: object) -> int:
    if isinstance(hours, bool) or not isinstance(hours, int):
        hours = -1
    if not 1 <= hours <= rules.MAX_DIGEST_HOURS:
        message = gettext("A digest comes every 1 to %(max)s hours.", max=rules.MAX_DIGEST_HOURS)
        raise InvalidInput(message, code="invalid_digest_hours", fields={"digest_hours": message})
    return hours


@database.writes
def set_notifications(
    username: str, *, email: str | None, mode: str, digest_hours: int | None = None
) -> Moderator:
    """How a moderator hears about the queue (see :mod:`moderation.notify.moderators`): the
    address (None or empty for none), the mode (``each``, ``digest`` or ``off``) and, for
    digests, every how many hours (1 to :data:`rules.MAX_DIGEST_HOURS`; None keeps it). The
    first digest comes with the worker's next look at the queue, then one each period.

    ``each`` and ``digest`` need an address. Raises :class:`NotFound` for an unknown
    moderator and :class:`InvalidInput` for a bad value; then nothing changes.
    """
    address = check_notify_email(email)
    the_mode = _notify_mode(mode)
    hours = None if digest_hours is None else _digest_hours(digest_hours)
    if the_mode != NotifyMode.OFF and address is None:
        message = gettext("Mails need an e-mail address.")
        raise InvalidInput(message, code="missing_email", fields={"email": message})
    moderator = get_moderator(username)
    moderator.notify_email = address
    moderator.notify_mode = the_mode
    if hours is not None:
        moderator.digest_hours = hours
    return moderator
