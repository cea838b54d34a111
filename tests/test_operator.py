"""What an operator's host exposes (issue 16, finding 9): file modes and gunicorn's logs.

The instance folder holds the secret key and the SQLite database (e-mail addresses, every
comment): the folder must be 0700 and every file in it 0600, whatever the umask. gunicorn's
error log must not name a client's address, although gunicorn writes one for every malformed
request; a real gunicorn with the production ``gunicorn.conf.py`` is sent malformed requests
over raw sockets, on IPv4 and (where the host has it) IPv6 loopback.
"""

from __future__ import annotations

import io
import logging
import os
import runpy
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import Gunicorn
from sqlalchemy import text

from moderation import create_app, database
from moderation.extensions import db

ROOT = Path(__file__).resolve().parent.parent
CONFIG = runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """The usual umask, and none at all: the modes must not depend on it."""
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


@pytest.fixture
def no_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default database: an SQLite file in the instance folder."""
    monkeypatch.delenv("MODERATION_DATABASE_URL", raising=False)
    monkeypatch.delenv("MODERATION_SECRET_KEY", raising=False)


# --- the instance folder and the SQLite files --------------------------------------------------


def test_a_fresh_instance_folder_is_private(
    database_url: str, tmp_path: Path, umask: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODERATION_SECRET_KEY", raising=False)
    instance = tmp_path / "deploy" / "instance"
    create_app({"INSTANCE_PATH": instance, "DATABASE_URL": database_url})
    assert mode(instance) == 0o700
    assert mode(instance / "secret_key") == 0o600


@pytest.mark.usefixtures("no_database_url")
def test_the_sqlite_database_and_its_wal_files_are_private(tmp_path: Path, umask: int) -> None:
    instance = tmp_path / "instance"
    app = create_app({"INSTANCE_PATH": instance})

    @database.writes
    def write() -> None:
        db.session.execute(text("INSERT INTO probe VALUES (1)"))
        db.session.commit()

    with app.app_context():
        db.session.execute(text("CREATE TABLE probe (x INTEGER)"))
        db.session.commit()
        write()  # through the writer queue, which adds its lock file
        # The pooled connection is still open, so SQLite's -wal and -shm files are there.
        names = sorted(path.name for path in instance.iterdir())
        modes = {path.name: mode(path) for path in instance.iterdir()}
        db.session.remove()
    assert names == [
        "moderation.sqlite3",
        "moderation.sqlite3-shm",
        "moderation.sqlite3-wal",
        "moderation.sqlite3-writers",
        "secret_key",
    ]
    assert modes == dict.fromkeys(names, 0o600)
    assert mode(instance) == 0o700


def test_a_database_removed_while_running_comes_back_private(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "elsewhere.sqlite3"
    app = create_app({"INSTANCE_PATH": tmp_path / "instance", "DATABASE_URL": f"sqlite:///{path}"})
    with app.app_context():
        db.session.execute(text("SELECT 1"))
        db.session.remove()
        db.engine.dispose()
        path.unlink()
        db.session.execute(text("CREATE TABLE probe (x INTEGER)"))
        db.session.commit()
        db.session.remove()
    assert mode(path) == 0o600


@pytest.mark.usefixtures("no_database_url")
def test_an_existing_open_instance_folder_is_closed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    instance = tmp_path / "instance"  # as git creates it in a fresh clone, for its README
    instance.mkdir()
    instance.chmod(0o755)
    create_app({"INSTANCE_PATH": instance})
    assert mode(instance) == 0o700
    assert "was open to other users (mode 755); it is now 700" in caplog.text


@pytest.mark.usefixtures("no_database_url")
def test_a_shared_folder_is_left_alone_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shared = tmp_path / "shared"  # like /tmp: sticky and open to all
    shared.mkdir()
    shared.chmod(0o1777)
    create_app({"INSTANCE_PATH": shared})
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert "is open to other users (mode 1777); run chmod 700 on it" in caplog.text


@pytest.mark.usefixtures("no_database_url")
def test_an_existing_database_open_to_others_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o700)
    (instance / "moderation.sqlite3").touch(mode=0o644)
    (instance / "moderation.sqlite3").chmod(0o644)
    create_app({"INSTANCE_PATH": instance})
    assert "can be read by other users (mode 644); run chmod 600" in caplog.text


# --- gunicorn's logs ---------------------------------------------------------------------------

# Each is refused by gunicorn before the app sees it, and logged as "Invalid request from ip=…".
MALFORMED = {
    "request line": b"GARBAGE\r\n\r\n",
    "HTTP version": b"GET / HTTP/9.9\r\n\r\n",
    "header": b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
    "header name": b"GET / HTTP/1.1\r\nX\x00: y\r\n\r\n",
    "method": b"get / HTTP/1.1\r\n\r\n",
    "long line": b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n",
    "transfer coding": b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: nope\r\n\r\n",
}
HEALTH_CHECK = b"GET /healthz?raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def send_raw(host: str, port: int, data: bytes) -> bytes:
    """Send ``data`` as it is and read the answer until gunicorn closes the connection."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.settimeout(10)
        sock.connect((host, port))
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    return answer


def start_gunicorn(tmp_path: Path, hosts: list[str], level: str) -> Gunicorn:
    """The service under gunicorn with the production config file and two sync workers, with
    a home directory of its own and none of this process's ``MODERATION_``/``GUNICORN_``
    settings."""
    home = tmp_path / "home"
    home.mkdir()
    base_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MODERATION_", "GUNICORN_")) and key != "XDG_RUNTIME_DIR"
    }
    env = {
        "HOME": str(home),
        "MODERATION_INSTANCE_PATH": str(tmp_path / "instance"),
        "MODERATION_SECRET_KEY": "test-secret-key",
        "GUNICORN_LOG_LEVEL": level,
    }
    return Gunicorn(
        env,
        base_env=base_env,
        log=tmp_path / "error.log",
        access_log=tmp_path / "access.log",
        hosts=hosts,
        workers=2,
        timeout=30,
    )


@pytest.mark.parametrize("level", ["info", "debug"])
def test_gunicorn_logs_no_client_address_for_malformed_requests(tmp_path: Path, level: str) -> None:
    hosts = ["127.0.0.1", "::1"] if has_ipv6_loopback() else ["127.0.0.1"]
    server = start_gunicorn(tmp_path, hosts, level)
    try:
        for host in hosts:
            for data in MALFORMED.values():
                assert send_raw(host, server.port, data)[:10] in (b"HTTP/1.1 4", b"HTTP/1.1 5")
            answer = send_raw(host, server.port, HEALTH_CHECK)
            assert answer.startswith(b"HTTP/1.1 200")
    finally:
        server.stop()
    error_log = server.log.read_text()
    access_log = server.access_log.read_text()
    # Every malformed request was logged, and none with its address.
    assert error_log.count("Invalid request from ip=<address>:") == len(MALFORMED) * len(hosts)
    for address in hosts:
        assert address not in error_log
        assert address not in access_log
    assert access_log.count('"GET /healthz?raw HTTP/1.1" 200') == len(hosts)
    # No control socket in the home directory (gunicornc is off unless asked for).
    assert list((tmp_path / "home").iterdir()) == []


def test_the_access_log_format_has_no_address() -> None:
    log_format = CONFIG["access_log_format"].lower()
    for atom in ("%(h)s", "{x-forwarded-for}i", "{remote_addr}e", "{x-real-ip}i", "{forwarded}i"):
        assert atom not in log_format


@pytest.mark.parametrize(
    ("message", "masked"),
    [
        ("Invalid request from ip=127.0.0.1: bad", "Invalid request from ip=<address>: bad"),
        ("Invalid request from ip=::1: bad", "Invalid request from ip=<address>: bad"),
        ("Listening at: http://10.0.0.12:8000 (42)", "Listening at: http://<address>:8000 (42)"),
        ("http://[2001:db8::1]:8000", "http://[<address>]:8000"),
        ("from 2001:0db8:0000:0000:0000:ff00:0042:8329.", "from <address>."),
        ("mapped ::ffff:192.0.2.1 and fe80::1%eth0", "mapped <address> and <address>%eth0"),
        ("proxies ['192.0.2.7', '198.51.100.255']", "proxies ['<address>', '<address>']"),
    ],
)
def test_addresses_are_masked(message: str, masked: str) -> None:
    assert CONFIG["mask_addresses"](message) == masked


@pytest.mark.parametrize(
    "message",
    [
        "Booting worker with pid: 4242 at 06:59:42",
        "Starting gunicorn 27.0.1",
        "Request Line is too large (5014 > 4094)",
        "deadbeef cafe: a.b.c",
        "Invalid HTTP Version: (9, 9)",
        "999.1.1.1 is no address",
    ],
)
def test_what_is_not_an_address_stays(message: str) -> None:
    assert CONFIG["mask_addresses"](message) == message


def test_tracebacks_and_arguments_are_masked_too() -> None:
    """The filter works on the logger, before any handler formats the record."""
    logger = logging.getLogger("test_operator.masked")
    logger.propagate = False
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    mask: Any = CONFIG["_AddressMask"]()
    logger.addFilter(mask)
    try:
        logger.warning("client %s sent %d%% garbage", "192.0.2.1", 100)
        try:
            raise ConnectionError("reset by 2001:db8::7")
        except ConnectionError:
            logger.exception("Socket error from %s", "[2001:db8::7]:443")
    finally:
        logger.removeFilter(mask)
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "client <address> sent 100% garbage" in output
    assert "Socket error from [<address>]:443" in output
    assert "ConnectionError: reset by <address>" in output
    assert "192.0.2.1" not in output and "2001:db8" not in output
