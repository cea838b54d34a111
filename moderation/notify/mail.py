"""Mails: composed in the site's language (text and HTML), sent over SMTP or printed.

A mail is composed when the worker expands an event (:func:`compose`) and stored in its outbox
row, so what is sent is what was queued, whatever changes later, and a subject access request
can show pending mails as they stand. Sending (:class:`Postman`) uses the standard library:
:class:`email.message.EmailMessage` and :mod:`smtplib`.

Readers' text never reaches a header: the subject is built from our own words and a name made
one line (:func:`header_text`), and ``email``'s default policy refuses a line break in any
header value anyway.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import ssl
import sys
import threading
from collections.abc import Iterator
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale

from ..models import OutboxMessage, utcnow
from .outbox import Outcome

MAX_SUBJECT = 150
# Control characters, and the separators that end a line: none of them belongs in a header.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def header_text(text: str, limit: int = MAX_SUBJECT) -> str:
    """Text fit for a header: one line, no control characters, at most ``limit`` characters."""
    one_line = " ".join(_UNSAFE.sub(" ", text).split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


# Where links in mails point when MODERATION_PUBLIC_URL is not set: the development server.
DEVELOPMENT_URL = "http://127.0.0.1:5000"


def link(path: str) -> str:
    """An absolute address of the service for a mail: ``PUBLIC_URL`` (or the development
    server's) followed by ``path``."""
    base = current_app.config.get("PUBLIC_URL") or DEVELOPMENT_URL
    return base.rstrip("/") + "/" + path.lstrip("/")


@contextlib.contextmanager
def language(code: str) -> Iterator[None]:
    """Compose in this language (``de``/``en``): gettext and the templates follow it."""
    with force_locale(code):
        yield


def compose(
    template: str, *, subject: str, unsubscribe_url: str | None = None, **context: Any
) -> dict[str, Any]:
    """A mail's content from ``templates/mail/<template>.txt`` and ``.html``.

    Call it inside :func:`language`. A mail to a reader passes ``unsubscribe_url``: it becomes
    the ``List-Unsubscribe`` header with RFC 8058's one-click POST, and a link in the text.
    """
    context = {"subject": subject, "unsubscribe_url": unsubscribe_url, **context}
    headers: dict[str, str] = {}
    if unsubscribe_url:
        headers["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return {
        "subject": header_text(subject),
        "text": render_template(f"mail/{template}.txt", **context),
        "html": render_template(f"mail/{template}.html", **context),
        "headers": headers,
    }


# Headers fold at RFC 5322's hard limit, not at 78: the default policy turns a word too long for
# a 78-character line (the URL in List-Unsubscribe) into RFC 2047 encoded words, which mail
# programs do not decode there, so the one-click unsubscribe would not work.
POLICY = email_policy.default.clone(max_line_length=998)


def message(row: OutboxMessage) -> EmailMessage:
    """The outbox row as a mail, with a Message-ID made of its delivery id and a Date."""
    content = row.payload
    sender = str(current_app.config["MAIL_FROM"])
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    mail = EmailMessage(policy=POLICY)
    mail["Subject"] = header_text(content["subject"])
    mail["From"] = sender
    mail["To"] = row.recipient or ""
    mail["Date"] = format_datetime(utcnow())
    mail["Message-ID"] = f"<{row.delivery_id}@{domain}>"
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies, please
    for name, value in content.get("headers", {}).items():
        mail[name] = value
    mail.set_content(content["text"])
    mail.add_alternative(content["html"], subtype="html")
    return mail


_console = threading.Lock()


def readable(mail: EmailMessage) -> str:
    """The mail as the console backend prints it: its headers and its text part, decoded
    (the wire form has the German text in base64)."""
    headers = "".join(f"{name}: {value}\n" for name, value in mail.items())
    text = mail.get_body(("plain",))
    return headers + "\n" + (text.get_content() if isinstance(text, EmailMessage) else "")


class Postman:
    """Delivers a worker's batch of mails, over one SMTP connection opened on first use."""

    def __init__(self) -> None:
        self.config = current_app.config
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Postman:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._smtp.quit()
            self._smtp = None

    def deliver(self, row: OutboxMessage) -> Outcome:
        try:
            mail = message(row)
        except ValueError as error:  # a header the policy refuses: sending cannot help
            return Outcome(False, f"not a valid mail: {error}", permanent=True)
        if self.config["MAIL_BACKEND"] == "console":
            with _console:
                sys.stdout.write(f"{'-' * 72}\n{readable(mail)}\n")
                sys.stdout.flush()
            return Outcome(True)
        try:
            refused = self._connection().send_message(mail)
        except smtplib.SMTPRecipientsRefused as error:
            code = next(iter(error.recipients.values()))[0]
            return Outcome(False, f"refused: {error.recipients}", code, permanent=code >= 500)
        except smtplib.SMTPResponseException as error:
            self._drop()
            return Outcome(
                False,
                f"{error.smtp_code} {error.smtp_error!r}",
                error.smtp_code,
                permanent=error.smtp_code >= 500,
            )
        except (smtplib.SMTPException, OSError) as error:
            self._drop()
            return Outcome(False, f"{type(error).__name__}: {error}")
        if refused:
            return Outcome(False, f"refused: {refused}", permanent=True)
        return Outcome(True, status=250)

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            config = self.config
            host, port = str(config["MAIL_SERVER"]), int(config["MAIL_PORT"])
            timeout = float(config["MAIL_TIMEOUT"])
            smtp: smtplib.SMTP
            if config["MAIL_USE_SSL"]:
                smtp = smtplib.SMTP_SSL(
                    host, port, timeout=timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(host, port, timeout=timeout)
                if config["MAIL_USE_TLS"]:
                    smtp.starttls(context=ssl.create_default_context())
            if config["MAIL_USERNAME"]:
                smtp.login(str(config["MAIL_USERNAME"]), str(config["MAIL_PASSWORD"] or ""))
            self._smtp = smtp
        return self._smtp

    def _drop(self) -> None:
        """Forget a connection in an unknown state; the next mail opens a new one."""
        if self._smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None
