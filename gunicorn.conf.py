"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py wsgi:app`` (``make serve``).

Every value can be changed from the environment without editing this file:

=========================  =====================  ========================================
variable                   default                meaning
=========================  =====================  ========================================
``GUNICORN_BIND``          ``127.0.0.1:8000``     where to listen (nginx proxies to it)
``WEB_CONCURRENCY``        2 × CPU cores + 1      worker processes
``GUNICORN_TIMEOUT``       ``30``                 seconds before a stuck worker is killed
``GUNICORN_KEEPALIVE``     ``5``                  seconds an idle proxy connection stays
``GUNICORN_MAX_REQUESTS``  ``0`` (never)          recycle a worker after this many requests
``GUNICORN_ACCESS_LOG``    ``-`` (stdout)         access log file; empty string: none
``GUNICORN_LOG_LEVEL``     ``info``               error log level
=========================  =====================  ========================================

Workers are sync: each request is a short database round trip and some string work, so a
worker per core (plus some to cover waiting on the database) keeps the CPUs busy. No state
that matters lives in a worker: rate limits, sessions and the queue are in the database or in
signed cookies, and the per-worker list cache is keyed by the article's version, so any number
of workers and hosts can serve the same database.

The access log never shows a reader's address: the format below has no ``%(h)s`` and no
``X-Forwarded-For``; the service itself keeps only a keyed hash of it (see ``privacy.py``).
"""

from __future__ import annotations

import multiprocessing
import os


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
