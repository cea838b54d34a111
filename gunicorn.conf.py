"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py wsgi:app`` (``make serve``).

Every value can be changed from the environment without editing this file:

===========================  =====================  ======================================
variable                     default                meaning
===========================  =====================  ======================================
``GUNICORN_BIND``            ``127.0.0.1:8000``     where to listen (nginx proxies to it)
``WEB_CONCURRENCY``          2 × CPU cores + 1      worker processes
``GUNICORN_TIMEOUT``         ``30``                 seconds before a stuck worker is killed
``GUNICORN_KEEPALIVE``       ``5``                  ignored by sync workers (they close)
``GUNICORN_MAX_REQUESTS``    ``0`` (never)          recycle a worker after this many requests
``GUNICORN_ACCESS_LOG``      ``-`` (stdout)         access log file; empty string: none
``GUNICORN_LOG_LEVEL``       ``info``               error log level
``GUNICORN_CONTROL_SOCKET``  none (off)             path of gunicorn's control socket
===========================  =====================  ======================================

Workers are sync: each request is a short database round trip and some string work, so a
worker per core (plus some to cover waiting on the database) keeps the CPUs busy. No state
that matters lives in a worker: rate limits, sessions and the queue are in the database or in
signed cookies, and the per-worker list cache is keyed by the article's version, so any number
of workers and hosts can serve the same database.

The access log never shows a reader's address: the format below has no ``%(h)s`` and no
``X-Forwarded-For``; the service itself keeps only a keyed hash of it (see ``privacy.py``).
Nor does the error log: gunicorn writes ``Invalid request from ip=…`` for every malformed
request (at any log level), so :class:`AddressFreeLogger` replaces every IP address in the
error log's messages and tracebacks with ``<address>``, the listen address included.

gunicorn's control socket (``gunicornc``: change the worker count, stop the server) is off
unless ``GUNICORN_CONTROL_SOCKET`` names a path for it: by default it would sit in the
user's home directory, shared by every gunicorn that user runs.
"""

from __future__ import annotations

import ipaddress
import logging
import multiprocessing
import os
import re

from gunicorn.glogging import Logger


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")
workers = _int("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1)
worker_class = "sync"
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
max_requests = _int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = max_requests // 10
# The proxy already limits request lines and headers; these are gunicorn's own defaults.
limit_request_line = 4094
limit_request_fields = 100

# Heartbeat files on a RAM disk where there is one: a slow disk must not look like a hung worker.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# time, request line, status, bytes, duration in ms, referrer, user agent: no client address.
access_log_format = '%(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(f)s" "%(a)s"'
proc_name = "moderation"

control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]

# Runs of hex digits, dots and colons: every IPv4 and IPv6 address is one (brackets, ports and
# zone ids are outside it); most runs are not addresses (times, versions), hence the check.
_ADDRESS_RUN = re.compile(r"[0-9A-Fa-f.:]{2,}")
_IPV4 = re.compile(r"(?<![0-9])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9])")
MASK = "<address>"


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _mask_run(match: re.Match[str]) -> str:
    """An address, less punctuation that follows it (``ip=::1: Invalid …``), becomes
    :data:`MASK`; an IPv4 address with a port (``127.0.0.1:8000``) keeps the port."""
    run = match.group()
    core = run.rstrip(".:")
    if _is_address(core):
        return MASK + run[len(core) :]
    return _IPV4.sub(lambda m: MASK if _is_address(m.group()) else m.group(), run)


def mask_addresses(text: str) -> str:
    """``text`` with every IPv4 and IPv6 address in it replaced by :data:`MASK`."""
    return _ADDRESS_RUN.sub(_mask_run, text)


class _AddressMask(logging.Filter):
    """Masks the addresses in a record's message, traceback and stack before any handler
    writes it (the message is formatted here, once, and its arguments dropped)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep its parts, as logging itself would
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = mask_addresses(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_addresses(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_addresses(record.stack_info)
        return True


class AddressFreeLogger(Logger):
    """gunicorn's logger, with no IP address in its error log.

    gunicorn logs ``Invalid request from ip=ADDRESS: …`` for every malformed request, which
    anyone can send; behind a proxy that is the proxy's address, but a client reaching
    gunicorn directly would have its own written down. The filter sits on the
    ``gunicorn.error`` logger itself, so it holds for any handler (file, stderr, syslog).
    The access log is left alone: its format above has no address in it.
    """

    def setup(self, cfg: object) -> None:
        super().setup(cfg)
        if not any(isinstance(f, _AddressMask) for f in self.error_log.filters):
            self.error_log.addFilter(_AddressMask())


logger_class = AddressFreeLogger
