"""Servers the tests (and ``benchmarks/run.py``) start: werkzeug in a thread, gunicorn, Chromium.

Everything listens on loopback only. The benchmarks import this module as ``tests.servers``
(``python benchmarks/run.py`` puts the repository root on ``sys.path``); the tests as ``servers``.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")

NGINX = "/usr/sbin/nginx"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Keep every request on loopback; Chromium still calls home otherwise.
    "--proxy-server=http://127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """A WSGI app served by werkzeug in a thread on a free loopback port."""

    def __init__(self, wsgi_app: Any, host: str = "127.0.0.1") -> None:
        self._server = make_server(host, 0, wsgi_app, threaded=True)
        self.port = self._server.socket.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)


class Gunicorn:
    """An app under gunicorn with the production ``gunicorn.conf.py`` on a free port.

    ``env`` is added to ``base_env`` (default: this process's environment). The server listens on
    every host in ``hosts`` (loopback addresses, IPv6 ones without brackets); it is ready when all
    ``workers`` run and ``/healthz`` answers 200 on the first host. gunicorn's output goes to
    ``log``; its access log to ``access_log``, or nowhere. If it does not get ready within
    ``timeout`` seconds, it is stopped and :class:`RuntimeError` carries the log.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        log: Path,
        workers: int = 2,
        app: str = "wsgi:app",
        access_log: Path | None = None,
        hosts: Sequence[str] = ("127.0.0.1",),
        base_env: Mapping[str, str] | None = None,
        timeout: float = 60,
    ) -> None:
        self.port = free_port()
        self.host = hosts[0]
        self.wanted_workers = workers
        self.log = log
        self.access_log = access_log
        binds = [f"[{h}]:{self.port}" if ":" in h else f"{h}:{self.port}" for h in hosts]
        full_env = {
            **(os.environ if base_env is None else base_env),
            **env,
            "WEB_CONCURRENCY": str(workers),
            "GUNICORN_BIND": ",".join(binds),
            "GUNICORN_ACCESS_LOG": str(access_log) if access_log else "",
        }
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(GUNICORN), "-c", "gunicorn.conf.py", app],
                cwd=ROOT,
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready(app, timeout)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _wait_ready(self, app: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn {app} exited:\n{self.log.read_text()}")
            if len(self.workers()) == self.wanted_workers and self._healthy():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn {app} did not start:\n{self.log.read_text()}")

    def _healthy(self) -> bool:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=5)
        try:
            connection.request("GET", "/healthz")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def workers(self) -> list[int]:
        """The worker processes' ids, as the kernel lists the master's children."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def stop(self) -> None:
        """SIGTERM (gunicorn finishes what it serves and flushes its logs), then wait."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def documented_nginx_site() -> str:
    """The nginx configuration in docs/deployment.md ("nginx in front"), as printed there."""
    section = (ROOT / "docs" / "deployment.md").read_text().split("## nginx in front", 1)[1]
    found = re.search(r"```nginx\n(.*?)```", section, re.S)
    if found is None:
        raise RuntimeError("docs/deployment.md has no nginx block under 'nginx in front'")
    return found.group(1)


class Nginx:
    """docs/deployment.md's nginx configuration, in front of ``upstream`` (``host:port``).

    Runs the documented file's ``http``-level part and its first ``server`` block, changed only
    where a test must: a free loopback port without TLS instead of 443, ``workdir`` instead of
    /var/cache and /var/log. ``drop`` removes lines that start with one of its strings (after
    indentation); ``extra`` goes into the ``server`` block. Each change must find its line, so
    the documented configuration cannot drift away from what runs here unnoticed.
    """

    def __init__(
        self,
        upstream: str,
        workdir: Path,
        *,
        drop: Sequence[str] = (),
        extra: str = "",
        worker_processes: int = 1,
        timeout: float = 15,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        site = documented_nginx_site()
        second = [m.start() for m in re.finditer(r"^server \{", site, re.M)][1]
        site = site[:second]
        changes = [
            (r"server 127\.0\.0\.1:8000", f"server {upstream}"),
            (r"^ *listen 443 ssl http2;.*$", f"    listen 127.0.0.1:{self.port};"),
            (r"^ *ssl_certificate(_key)? .*\n", ""),
            (r"/var/cache/nginx/moderation", str(workdir / "cache")),
            (r"/var/log/nginx/moderation\.error\.log", str(workdir / "error.log")),
            *[(rf"^ *{re.escape(line)}.*\n", "") for line in drop],
        ]
        for pattern, replacement in changes:
            site, count = re.subn(pattern, replacement, site, flags=re.M)
            if not count:
                raise RuntimeError(f"docs/deployment.md's nginx block has no {pattern!r}")
        if extra:
            site = site.rstrip()
            assert site.endswith("}")
            site = f"{site[:-1]}{extra}\n}}\n"
        temp = "\n".join(
            f"    {kind}_temp_path {workdir / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        user = "user root;\n" if os.geteuid() == 0 else ""  # else workers run as nobody
        self.config = workdir / "nginx.conf"
        self.config.write_text(
            f"{user}daemon off;\nworker_processes {worker_processes};\n"
            f"pid {workdir / 'nginx.pid'};\nerror_log {workdir / 'error.log'} warn;\n"
            f"events {{ worker_connections 4096; }}\n"
            f"http {{\n    default_type application/octet-stream;\n{temp}\n{site}}}\n"
        )
        self.log = workdir / "nginx.out"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    NGINX,
                    "-p",
                    str(workdir),
                    "-e",
                    str(workdir / "error.log"),
                    "-c",
                    str(self.config),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{self.errors()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not start:\n{self.errors()}")

    def errors(self) -> str:
        """What nginx said on its terminal and in its error log."""
        paths = [self.log, self.workdir / "error.log"]
        return "".join(path.read_text() for path in paths if path.exists())

    def stop(self) -> None:
        """SIGQUIT (nginx finishes what it serves), then wait."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class MailServer:
    """A real SMTP server (aiosmtpd) on loopback that keeps every mail it receives.

    ``messages`` are :class:`email.message.EmailMessage` objects, parsed with the default policy;
    ``refuse`` makes the server answer every RCPT with that reply (``"550 no such user"``).
    """

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        self.refuse: str | None = None
        self._lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import email
        import email.policy

        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self._lock:
            self.messages.append(parsed)
        return "250 Message accepted for delivery"

    @property
    def port(self) -> int:
        return int(self.controller.port)

    @property
    def config(self) -> dict[str, Any]:
        """The app settings that send mail here."""
        return {"MAIL_BACKEND": "smtp", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": self.port}

    def to(self, address: str) -> list[Any]:
        with self._lock:
            return [m for m in self.messages if address in str(m["To"])]

    def start(self) -> MailServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


class WebhookReceiver:
    """A real HTTP server on loopback that takes webhook calls and keeps each one.

    ``requests`` holds a :class:`ReceivedCall` per request (method, path, headers, raw body).
    ``fail`` answers the next that many requests with ``fail_status`` (500); ``delay`` makes
    every answer wait that many seconds first (to run past the sender's timeout);
    ``redirect_to`` answers with a 302 to that address.
    """

    def __init__(self) -> None:
        import http.server

        self.requests: list[ReceivedCall] = []
        self.fail = 0
        self.fail_status = 500
        self.delay = 0.0
        self.redirect_to: str | None = None
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 -- the name http.server calls
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(
                        ReceivedCall(self.command, self.path, dict(self.headers.items()), body)
                    )
                    failing = receiver.fail > 0
                    if failing:
                        receiver.fail -= 1
                    delay, redirect = receiver.delay, receiver.redirect_to
                if delay:
                    time.sleep(delay)
                if redirect:
                    self.send_response(302)
                    self.send_header("Location", redirect)
                    status, answer = None, b""
                elif failing:
                    status, answer = receiver.fail_status, b"receiver broke"
                else:
                    status, answer = 200, b"ok"
                if status is not None:
                    self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                try:
                    self.wfile.write(answer)
                except OSError:  # the sender gave up waiting
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class ReceivedCall:
    """One request a :class:`WebhookReceiver` took."""

    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        """A header by name, whatever its case on the wire."""
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


class OutboxWorker:
    """``flask --app wsgi outbox work`` in a process of its own, as an operator runs it.

    ``env`` is added to ``base_env`` (default: this process's environment); the worker's output
    goes to ``log``. :meth:`wait_ready` waits for its first line, which names it: ``owner``
    is the ``lease_owner`` of the rows it holds.
    """

    def __init__(
        self, env: Mapping[str, str], *, log: Path, base_env: Mapping[str, str] | None = None
    ) -> None:
        self.log = log
        self.owner = ""
        full_env = {
            **(os.environ if base_env is None else base_env),
            **env,
            "PYTHONUNBUFFERED": "1",  # its lines show as they are written
        }
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).with_name("flask")), "--app", "wsgi", "outbox", "work"],
                cwd=ROOT,
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text()

    def wait_ready(self, timeout: float = 60) -> OutboxWorker:
        """Wait until the worker polls the outbox (its first line says so); else RuntimeError."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"as worker (\S+)", self.output())
            if found:
                self.owner = found.group(1)
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.process.kill()
        self.process.wait()
        raise RuntimeError(f"the outbox worker did not start:\n{self.output()}")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``signum`` and wait: the exit code (negative when a signal ended it)."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise RuntimeError(f"the outbox worker did not stop:\n{self.output()}") from None

    def delivered(self) -> int:
        """How many deliveries the stopped worker counted (its last line says)."""
        found = re.search(r"(\d+) delivered", self.output())
        if found is None:
            raise RuntimeError(f"the outbox worker reported nothing:\n{self.output()}")
        return int(found.group(1))


def delivery_ids(server: MailServer) -> Counter[str]:
    """How often each delivery id reached ``server``: a mail's Message-ID is
    ``<delivery id@domain>``."""
    with server._lock:
        messages = list(server.messages)
    return Counter(str(m["Message-ID"]).strip("<>").partition("@")[0] for m in messages)
