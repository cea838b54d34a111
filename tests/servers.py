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
