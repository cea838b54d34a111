"""``make bench``: load-test the service under gunicorn against a minimal Flask app, same run.

Seeds a database (bulk SQL, not the ORM), starts the service with ``gunicorn.conf.py`` and the
yardstick app (``benchmarks/minimal_app.py``) with the same settings, drives both with ``wrk``
(or a bounded Python load generator when wrk is missing), and prints a Markdown table:

* the approved list of an article with 50 comments (200, and 304 with ``If-None-Match``),
  counts for 20 articles, and POST of a new comment, each as requests/s and as a ratio to the
  minimal app;
* how the list's latency grows with 1 thousand, 100 thousand and 1 million comments in the
  database (page cache off, so every request reaches the database), and the moderation queue
  with 10 thousand pending comments;
* resident memory per worker after the run;
* the list through docs/deployment.md's nginx ``proxy_cache`` against nginx sending the same
  bytes from a file (skipped, with a line saying so, when nginx is not installed).

Everything listens on 127.0.0.1 only. ``BENCH_ARGS="--duration 3"`` makes a quick run;
``--database-url postgresql+psycopg://…`` measures PostgreSQL (a database you can wipe).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import NGINX, Gunicorn, Nginx  # noqa: E402 (needs the root on the path)

LOREM = (
    "Ein sachlicher Beitrag zur Debatte: Die Zahlen im Artikel sind nachvollziehbar, aber die "
    "Schlussfolgerung greift zu kurz. Wer die Quellen liest, sieht mehr Zwischentöne."
)
SITE = "bench"
LIST_PATH = f"/api/v1/sites/{SITE}/articles/politik/fuenfzig/comments"
COUNTS_PATH = f"/api/v1/sites/{SITE}/counts?" + "&".join(f"article=a{i}" for i in range(20))
POST_PATH = f"/api/v1/sites/{SITE}/articles/politik/neu/comments"
GROWTH_STAGES = (1_000, 100_000, 1_000_000)
PER_ARTICLE = 100  # background comments per background article
# "?, ?, ?, …" (SQLite) or "%(key_1)s::VARCHAR, …" (PostgreSQL) in a printed query
LONG_IN_LIST = re.compile(r"(\?, ){3,}\?|(%\(\w+\)s(::\w+)?, ){3,}%\(\w+\)s(::\w+)?")


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read(), response.headers
    finally:
        connection.close()


# --- servers -----------------------------------------------------------------------------------


def serve(app: str, env: dict[str, str], workers: int, log: Path) -> Gunicorn:
    """``app`` under gunicorn (``tests/servers.py``, as the no-loss tests run it), without an
    access log and with warnings only: logging is not measured."""
    return Gunicorn({**env, "GUNICORN_LOG_LEVEL": "warning"}, app=app, workers=workers, log=log)


def rss_mb(server: Gunicorn) -> list[str]:
    """Each worker's resident size, and its proportional share (PSS: shared pages split among
    the processes that share them), in MB."""
    sizes = []
    for pid in server.workers():
        status = Path(f"/proc/{pid}/status").read_text()
        rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
        rollup = Path(f"/proc/{pid}/smaps_rollup")
        pss = ""
        if rollup.exists():
            found = re.search(r"^Pss:\s+(\d+)", rollup.read_text(), re.M)
            pss = f" (PSS {int(found.group(1)) / 1024:.0f})" if found else ""
        sizes.append(f"{rss:.0f}{pss}")
    return sizes


# --- load --------------------------------------------------------------------------------------


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    bad: int  # non-2xx/3xx answers and socket errors


# Each wrk thread numbers its requests; with MANY_READERS each one comes from its own reader
# address in X-Forwarded-For (the service runs with one trusted proxy, as behind nginx).
POST_LUA = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
local n = 0
local prefix = nil
local many_readers = %s
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  if prefix == nil then
    math.randomseed(os.time() * 1000 + id)
    prefix = math.random(1, 1e9)
  end
  n = n + 1
  local author = '"author": "Leserin ' .. prefix .. '"'
  local body = '{' .. author .. ', "body": "%s Nummer ' .. prefix .. '-' .. n .. '."}'
  local headers = nil
  if many_readers then
    local a = (id * 50 + prefix %% 50) %% 250
    local address = string.format("10.%%d.%%d.%%d", a, math.floor(n / 250) %% 250, n %% 250)
    -- a table given to wrk.format replaces wrk.headers
    headers = {["Content-Type"] = "application/json", ["X-Forwarded-For"] = address}
  end
  return wrk.format(nil, nil, headers, body)
end
"""


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(url: str, duration: float, connections: int, *, headers: dict | None = None,
        post: bool = False, many_readers: bool = False, workdir: Path) -> Result:  # fmt: skip
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{duration:g}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if post:
        script = workdir / "post.lua"
        script.write_text(POST_LUA % ("true" if many_readers else "false", LOREM))
        command += ["-s", str(script)]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    if "50" not in latency:
        raise SystemExit(f"unexpected wrk output:\n{out}")
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if errors:
        bad += sum(int(n) for n in errors.groups())
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return Result(rps, _ms(latency["50"]), _ms(latency["99"]), total, bad)


def python_load(url: str, duration: float, connections: int, *, headers: dict | None = None,
                post: bool = False, many_readers: bool = False, workdir: Path,
                ) -> Result:  # fmt: skip
    """A bounded Python load generator for machines without wrk: ``connections`` threads (at
    most 32), each sending one request after another for ``duration`` seconds; with
    ``many_readers`` each POST names its own reader address in ``X-Forwarded-For``, as wrk's
    script does. gunicorn's sync workers close the connection after each answer, so a fresh
    connection per request costs the servers nothing extra.
    """
    host, port = url.split("//")[1].split("/")[0].split(":")
    path = "/" + url.split("//")[1].split("/", 1)[1]
    deadline = time.monotonic() + duration
    latencies: list[float] = []
    bad = [0]
    lock = threading.Lock()

    def worker(index: int) -> None:
        mine: list[float] = []
        n = 0
        while time.monotonic() < deadline:
            n += 1
            sent = dict(headers or {})
            if many_readers:
                sent["X-Forwarded-For"] = f"10.{1 + index}.{n // 250 % 250}.{n % 250}"
            start = time.perf_counter()
            connection = http.client.HTTPConnection(host, int(port), timeout=10)
            try:
                if post:
                    body = json.dumps({"author": "Leserin", "body": f"{LOREM} {index}-{n}"})
                    connection.request(
                        "POST", path, body, {"Content-Type": "application/json", **sent}
                    )
                else:
                    connection.request("GET", path, headers=sent)
                response = connection.getresponse()
                response.read()
                ok = response.status < 400
            except (OSError, http.client.HTTPException):
                ok = False
            finally:
                connection.close()
            mine.append((time.perf_counter() - start) * 1000)
            if not ok:
                with lock:
                    bad[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(min(connections, 32))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    return Result(len(latencies) / duration, pick(0.5), pick(0.99), len(latencies), bad[0])


# --- data --------------------------------------------------------------------------------------


class Seeder:
    """Bulk SQL on the service's schema; one statement per batch, no ORM objects."""

    def __init__(self, url: str, instance: Path) -> None:
        from flask_migrate import upgrade

        from moderation import create_app
        from moderation.extensions import db
        from moderation.sites import create_site

        self.app = create_app(
            {"INSTANCE_PATH": instance, "DATABASE_URL": url, "SECRET_KEY": "bench-secret"}
        )
        with self.app.app_context():
            self.engine = db.engine
            if self.engine.dialect.name != "sqlite":
                db.drop_all()
                with self.engine.begin() as conn:
                    conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
            upgrade()
            self.site_id = create_site(SITE, "Bench", [], "de").id
            db.session.remove()
        self.sqlite = self.engine.dialect.name == "sqlite"
        self.now = datetime.now(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        self.background = 0  # background comments so far
        self.bg_base = 0

    def _exec(self, sql: str, **params: Any) -> None:
        ts = ":now" if self.sqlite else "CAST(:now AS TIMESTAMP)"
        js = "'[]'" if self.sqlite else "CAST('[]' AS JSON)"
        # A reader's source hash: 64 hex digits of the reader's number, i / 5 (see comments).
        source = "printf('%064x', i / 5)" if self.sqlite else "lpad(to_hex(i / 5), 64, '0')"
        sql = sql.replace("{ts}", ts).replace("{json}", js).replace("{source}", source)
        with self.engine.begin() as conn:
            from sqlalchemy import text

            conn.execute(text(sql), params)

    def _count(self, sql: str, **params: Any) -> int:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return int(conn.execute(text(sql), params).scalar_one())

    def articles(self, key_prefix: str, count: int, approved: str = "0") -> None:
        self._exec(
            "WITH RECURSIVE n(i) AS (SELECT CAST(0 AS INTEGER) "
            "UNION ALL SELECT i + 1 FROM n WHERE i < :last) "
            "INSERT INTO article (site_id, key, closed, version, approved_count, created_at) "
            f"SELECT :site, :prefix || i, false, 1, {approved}, {{ts}} FROM n",
            last=count - 1,
            site=self.site_id,
            prefix=key_prefix,
            now=self.now,
        )

    def comments(self, first: int, last: int, article: str, status: str) -> None:
        """Comments numbered first..last; ``article`` and ``status`` are SQL on ``i``.

        Each reader (source hash) wrote five of them, in a row. With one source for all of
        them, as before 2026-11-30, PostgreSQL's statistics said that any source had written
        nearly every comment, so it planned the history checks' queries anew for every
        submission: a cost that a site with many readers does not have.
        """
        self._exec(
            "WITH RECURSIVE n(i) AS (SELECT CAST(:first AS INTEGER) "
            "UNION ALL SELECT i + 1 FROM n WHERE i < :last) "
            "INSERT INTO comment (article_id, author, body_raw, body_html, policy_version, "
            "status, reasons, source_hash, created_at) "
            f"SELECT {article}, 'Leser ' || i, 'Nr. ' || i || ': ' || :lorem, "
            f"'<p>Nr. ' || i || ': ' || :lorem || '</p>', 1, {status}, {{json}}, "
            "{source}, {ts} FROM n",
            first=first,
            last=last,
            lorem=LOREM,
            now=self.now,
        )

    def base(self) -> None:
        """The article with 50 approved comments, 20 articles for counts, background articles."""
        self.articles("politik/fuenfzig", 1, approved="50")
        fifty = self._count("SELECT id FROM article WHERE key = 'politik/fuenfzig0'")
        self._exec("UPDATE article SET key = 'politik/fuenfzig' WHERE id = :id", id=fifty)
        self.comments(1, 50, str(fifty), "'approved'")
        self.articles("a", 20, approved="i")
        self.articles("bg-", GROWTH_STAGES[-1] // PER_ARTICLE + 1)
        self.bg_base = self._count("SELECT min(id) FROM article WHERE key LIKE 'bg-%'")

    def grow_to(self, total: int) -> None:
        """Background comments on background articles: 70 % approved, rejected, spam."""
        start = time.monotonic()
        step = 200_000
        while self.background < total:
            last = min(total, self.background + step)
            self.comments(
                self.background + 1,
                last,
                f"{self.bg_base} + (i - 1) / {PER_ARTICLE}",
                "CASE WHEN i % 10 = 7 THEN 'rejected' WHEN i % 10 IN (8, 9) THEN 'spam' "
                "ELSE 'approved' END",
            )
            self.background = last
        self._finish()
        print(f"  seeded {total:,} background comments in {time.monotonic() - start:.1f} s")

    def pending(self, count: int) -> None:
        first = self.background + 1
        self.comments(
            first, first + count - 1, f"{self.bg_base} + (i - {first}) % 1000", "'pending'"
        )
        self._finish()

    def _finish(self) -> None:
        with self.engine.begin() as conn:
            if self.sqlite:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.exec_driver_sql("ANALYZE")
        if not self.sqlite:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE comment")
                conn.exec_driver_sql("VACUUM ANALYZE article")

    def total_comments(self) -> int:
        return self._count("SELECT count(*) FROM comment")

    def plans(self) -> list[tuple[str, str]]:
        """EXPLAIN for the hot queries as the app sends them, on the seeded database."""
        from sqlalchemy import event

        from moderation import approved, bans, checks, review
        from moderation.database import Driver
        from moderation.extensions import db

        sent: list[tuple[str, Any]] = []

        def record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
            if statement.lstrip().upper().startswith("SELECT"):
                sent.append((statement, parameters))

        with self.app.app_context():
            # Through SQLAlchemy: record what the app sends.
            event.listen(self.engine, "before_cursor_execute", record)
            try:
                thread = approved.thread_state(SITE, "politik/fuenfzig")
                approved.approved_page(thread, 50, 10)
                listing = next(q for q in sent if "body_html" in q[0])
                sent.clear()
                review.pending_queue(limit=50)
                queue = sent[-1]
            finally:
                event.remove(self.engine, "before_cursor_execute", record)
                db.session.remove()
            connection = self.engine.raw_connection()
            try:
                driver = Driver(connection, self.engine.dialect)
                explain = "EXPLAIN QUERY PLAN " if self.sqlite else "EXPLAIN "
                since = driver.timestamp(datetime.now(UTC) - timedelta(hours=24))
                someone = "0" * 64  # the source of every seeded comment
                plans = []
                keys = {f"key{i}": f"a{i}" for i in range(100)}
                for name, sql, params in [
                    ("thread state (every list request, and the 304)", approved._STATE,
                     {"key": "politik/fuenfzig", "slug": SITE}),
                    ("approved list page", *listing),
                    ("counts for 100 articles", approved._counts_statement(100),
                     keys | {"slug": SITE}),
                    ("moderation queue, first page", *queue),
                    ("rate limit (every submission)", checks._RECENT_ON_SITE,
                     {"source_hash": someone, "since": since, "site_id": self.site_id,
                      "most": 20}),
                    ("duplicate check by source", checks._EARLIER_BODIES["source_hash"],
                     {"sender": someone, "since": since}),
                    ("duplicate check by e-mail", checks._EARLIER_BODIES["email"],
                     {"sender": "leserin@example.org", "since": since}),
                    ("active ban", bans._ACTIVE_BAN,
                     {"source_hash": someone, "email": None, "erased": None, "now": since}),
                ]:  # fmt: skip
                    if not isinstance(sql, str):  # a statement the driver runs
                        sql, params = driver.render(sql, params)
                    # as the driver gets it, in its own parameter style
                    rows = driver.cursor.execute(explain + sql, params).fetchall()
                    text_plan = "\n".join(str(row[-1]) if self.sqlite else row[0] for row in rows)
                    shown = LONG_IN_LIST.sub("…", " ".join(sql.split()))
                    plans.append((name, f"{shown}\n\n{text_plan}"))
            finally:
                connection.rollback()
                connection.close()
        return plans

    def time_queue(self, rounds: int = 200) -> dict[str, tuple[float, float]]:
        """p50/p99 in ms of the moderation queue's first page, in process: the ``/moderate/``
        page as a signed-in moderator gets it (session, query, template), and the query behind
        it alone (``review.pending_queue``)."""
        from moderation import moderators, review
        from moderation.extensions import db

        password = "bench-moderator-password"
        with self.app.app_context():
            if moderators.get_moderator("bench", required=False) is None:
                moderators.create_moderator("bench", password)
            limit = int(self.app.config["QUEUE_PAGE_SIZE"])
            db.session.remove()
        client = self.app.test_client()
        login = client.get("/moderate/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login).group(1)  # type: ignore[union-attr]
        signed_in = client.post(
            "/moderate/login", data={"username": "bench", "password": password, "csrf_token": token}
        )
        assert signed_in.status_code == 302, signed_in.status_code

        def page() -> None:
            response = client.get("/moderate/")
            assert response.status_code == 200, response.status_code

        def query() -> None:
            with self.app.app_context():
                for comment in review.pending_queue(limit=limit):
                    comment.article.site.slug  # noqa: B018 (what the page shows of each)
                db.session.remove()

        figures = {}
        for name, step in (("page", page), ("query", query)):
            step()
            times = []
            for _ in range(rounds):
                start = time.perf_counter()
                step()
                times.append((time.perf_counter() - start) * 1000)
            times.sort()
            figures[name] = (times[len(times) // 2], times[int(len(times) * 0.99) - 1])
        return figures


# --- the run -----------------------------------------------------------------------------------


class QueuePoller:
    """A moderator's open queue, as moderate.js keeps it: a signed-in session that asks for
    the queue's state every ``interval`` seconds with the ETag it last got (mostly 304)."""

    def __init__(self, port: int, username: str, password: str, interval: float) -> None:
        import http.cookiejar
        import urllib.parse
        import urllib.request

        self.base = f"http://127.0.0.1:{port}"
        self.interval = interval
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        page = self.opener.open(self.base + "/moderate/login").read().decode()
        found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert found, "no CSRF token on the login page"
        form = {"username": username, "password": password, "csrf_token": found[1]}
        self.opener.open(self.base + "/moderate/login", urllib.parse.urlencode(form).encode())
        self.polls = self.errors = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import urllib.error
        import urllib.request

        etag = None
        while not self.stop.wait(self.interval):
            request = urllib.request.Request(self.base + "/moderate/queue/state")
            if etag:
                request.add_header("If-None-Match", etag)
            try:
                with self.opener.open(request) as response:
                    etag = response.headers.get("ETag") or etag
                    response.read()
            except urllib.error.HTTPError as error:
                if error.code != 304:
                    self.errors += 1
            except OSError:
                self.errors += 1
            self.polls += 1


def ten_queues_case(port: int, env: dict[str, str], drive: Callable[..., Result],
                    kw: dict[str, Any], interval: float = 1.0) -> Result:  # fmt: skip
    """The reader list while ten moderators keep the queue open (polling every second, five
    times as often as moderate.js does), to show the polling leaves the readers' workers be."""
    password = "bench-moderator-password"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "wsgi",
            "moderators",
            "add",
            "benchmod",
            "--password-stdin",
        ],  # fmt: skip
        input=f"{password}\n{password}\n",
        text=True,
        env={**os.environ, **env},
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    pollers = [QueuePoller(port, "benchmod", password, interval) for _ in range(10)]
    for poller in pollers:
        poller.thread.start()
    try:
        result = drive(f"http://127.0.0.1:{port}" + LIST_PATH, **kw)
    finally:
        for poller in pollers:
            poller.stop.set()
    polls = sum(p.polls for p in pollers)
    errors = sum(p.errors for p in pollers)
    print(f"ten open queues: {polls} polls of /moderate/queue/state meanwhile, {errors} errors")
    return result


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} × {cpu}, {mem / 1024 / 1024:.0f} GB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}; load average before the run "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}"
    )


def nginx_case(
    app_env: dict[str, str], args: argparse.Namespace, drive: Callable[..., Result],
    workdir: Path, log: Path,
) -> None:  # fmt: skip
    """The list through docs/deployment.md's nginx cache, against nginx sending the same bytes
    from a file (this machine's ceiling for an answer of that size).

    One nginx worker for both. The documented ``limit_conn`` (20 per address) is left out:
    every load connection comes from 127.0.0.1, where readers come from many addresses.
    """
    if not Path(NGINX).exists():
        print(f"nginx case skipped: {NGINX} is missing (Debian package nginx).")
        return
    service = serve("wsgi:app", app_env, args.workers, log)
    body = workdir / "list.json"
    ceiling = f"""
    location = /ceiling.json {{
        default_type application/json;
        alias {body};
    }}"""
    nginx = Nginx(
        f"127.0.0.1:{service.port}", workdir / "nginx",
        drop=["limit_conn moderation_conn"], extra=ceiling,
    )  # fmt: skip
    try:
        status, cached_body, headers = get(nginx.port, LIST_PATH)
        assert status == 200 and cached_body == body.read_bytes(), (status, cached_body[:200])
        kw = {"duration": args.duration, "connections": args.connections, "workdir": workdir}
        cached = drive(nginx.url + LIST_PATH, **kw)
        from_file = drive(nginx.url + "/ceiling.json", **kw)
    finally:
        nginx.stop()
        service.stop()
    print(
        f"nginx proxy_cache (s-maxage {headers['Cache-Control'].rsplit('=', 1)[1]} s), "
        "GET list, 50 comments, 1 nginx worker:"
    )
    print()
    print("| case | req/s | p50 ms | p99 ms | errors |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, result in (("through the cache", cached), ("same bytes from a file", from_file)):
        print(
            f"| {name} | {result.rps:,.0f} | {result.p50_ms:.1f} | {result.p99_ms:.1f} | "
            f"{result.bad} |"
        )
    print()
    print(f"Cache vs file: {cached.rps / from_file.rps:.2f}× (target ≥ 0.5×).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per app")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL") or None,
        help="default: $BENCH_DATABASE_URL (set by benchmarks/with_postgres.sh), else a fresh "
        "SQLite file",
    )
    parser.add_argument("--no-growth", action="store_true", help="skip the growth stages")
    parser.add_argument(
        "--max-comments", type=int, default=GROWTH_STAGES[-1], help="largest growth stage"
    )
    parser.add_argument("--python-load", action="store_true", help="do not use wrk")
    parser.add_argument("--post-only", action="store_true", help="only the POST cases")
    args = parser.parse_args()

    use_wrk = shutil.which("wrk") is not None and not args.python_load
    drive: Callable[..., Result] = wrk if use_wrk else python_load
    workdir = Path(tempfile.mkdtemp(prefix="moderation-bench-"))
    instance = workdir / "instance"
    url = args.database_url or f"sqlite:///{instance / 'bench.sqlite3'}"
    started = datetime.now(UTC)
    print(f"# Benchmark {started:%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine()}")
    print(
        f"load: {'wrk -t2 -c' + str(args.connections) if use_wrk else 'Python threads'}, "
        f"{args.duration:g} s per case; gunicorn {args.workers} sync workers per app, "
        "no access log"
    )
    print(f"database: {'SQLite' if url.startswith('sqlite') else 'PostgreSQL'}")

    seeder = Seeder(url, instance)
    seeder.base()
    seeder.grow_to(GROWTH_STAGES[0])
    app_env = {
        "MODERATION_DATABASE_URL": url,
        "MODERATION_INSTANCE_PATH": str(instance),
        "MODERATION_SECRET_KEY": "bench-secret",
        # As behind nginx: the reader's address comes from X-Forwarded-For. The abuse checks
        # keep their defaults; every POST names its own reader, as on a busy article.
        "MODERATION_TRUSTED_PROXIES": "1",
    }
    log = workdir / "gunicorn.log"
    ours = serve("wsgi:app", app_env, args.workers, log)
    status, body, headers = get(ours.port, LIST_PATH)
    assert status == 200 and len(json.loads(body)["comments"]) == 50, (status, body[:200])
    etag = headers["ETag"]
    (workdir / "list.json").write_bytes(body)
    minimal = serve(
        "benchmarks.minimal_app:app",
        {"BENCH_LIST_JSON": str(workdir / "list.json")},
        args.workers,
        log,
    )
    assert get(minimal.port, LIST_PATH)[0] == 200

    def both(path: str, **kwargs: Any) -> tuple[Result, Result]:
        kw = {"duration": args.duration, "connections": args.connections, "workdir": workdir}
        mine = drive(ours.url + path, **kw, **kwargs)
        theirs = drive(minimal.url + path, **kw, **kwargs)
        return mine, theirs

    rows: list[tuple[str, Result, Result, str]] = []
    kw = {"duration": args.duration, "connections": args.connections, "workdir": workdir}
    try:
        if not args.post_only:
            rows.append(("GET list, 50 comments (200)", *both(LIST_PATH), "≥ 1.2×"))
            rows.append(
                (
                    "GET list with If-None-Match (304)",
                    *both(LIST_PATH, headers={"If-None-Match": etag}),
                    "≥ 1.0×",
                )  # fmt: skip
            )
            rows.append(("GET counts, 20 articles", *both(COUNTS_PATH), "≥ 0.8×"))
            rows.append(
                (
                    "GET list (200) while ten moderators' queues poll",
                    ten_queues_case(ours.port, app_env, drive, kw),
                    rows[0][2],
                    "≈ the list's",
                )
            )
        label = "SQLite synchronous=FULL" if url.startswith("sqlite") else "PostgreSQL"
        rows.append((f"POST a comment, many readers, {label}",
                     *both(POST_PATH, post=True, many_readers=True), "≥ 450/s"))  # fmt: skip
        # One reader flooding at the shipped limits: 3 stored, then 429s (counted as errors),
        # refused from the workers' memory after each one's first refusal.
        rows.append(("POST flood from one reader, shipped limits (429s)",
                     drive(ours.url + POST_PATH, post=True, **kw), rows[-1][2], ""))  # fmt: skip
        rss_ours, rss_minimal = rss_mb(ours), rss_mb(minimal)
    finally:
        ours.stop()
    if url.startswith("sqlite"):
        fast = serve("wsgi:app", {**app_env, "MODERATION_SQLITE_SYNCHRONOUS": "NORMAL"},
                     args.workers, log)  # fmt: skip
        try:
            mine = drive(fast.url + POST_PATH, post=True, many_readers=True, **kw)
            rows.append(("POST a comment, many readers, SQLite synchronous=NORMAL", mine,
                         rows[-1][2], "≥ 450/s"))  # fmt: skip
        finally:
            fast.stop()
        # One reader sending everything, rate limits off: the duplicate check's worst case
        # (it compares each comment with that reader's latest 500).
        one_env = {**app_env, "MODERATION_RATE_LIMIT_PER_MINUTE": "0",
                   "MODERATION_RATE_LIMIT_PER_HOUR": "0"}  # fmt: skip
        single = serve("wsgi:app", one_env, args.workers, log)
        try:
            rows.append(("POST a comment, all from one reader, limits off, FULL",
                         drive(single.url + POST_PATH, post=True, **kw),
                         drive(minimal.url + POST_PATH, post=True, **kw), ""))  # fmt: skip
        finally:
            single.stop()
    minimal.stop()

    print()
    print(
        "| case | service req/s | minimal Flask req/s | ratio | target | p50 ms | p99 ms | errors |"
    )
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    for name, mine, theirs, target in rows:
        print(
            f"| {name} | {mine.rps:,.0f} | {theirs.rps:,.0f} | {mine.rps / theirs.rps:.2f}× | "
            f"{target} | {mine.p50_ms:.1f} | {mine.p99_ms:.1f} | {mine.bad} |"
        )
    print()
    print(
        f"Resident memory per worker after the run: service "
        f"{', '.join(rss_ours)} MB (target < 80), minimal Flask {', '.join(rss_minimal)} MB."
    )

    print()
    nginx_case(app_env, args, drive, workdir, log)

    if args.no_growth:
        return
    print()
    print("Cost growth: GET list (page cache off, every request queries the database)")
    print()
    print("| comments in the database | req/s | p50 ms | p99 ms | p99 vs 1k | errors |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    uncached = {**app_env, "MODERATION_LIST_CACHE_ENTRIES": "0"}
    first_p99 = None
    for total in [stage for stage in GROWTH_STAGES if stage <= args.max_comments]:
        seeder.grow_to(total)
        server = serve("wsgi:app", uncached, args.workers, log)
        try:
            result = drive(
                server.url + LIST_PATH,
                duration=args.duration,
                connections=args.connections,
                workdir=workdir,
            )
        finally:
            server.stop()
        first_p99 = first_p99 or result.p99_ms
        print(
            f"| {seeder.total_comments():,} | {result.rps:,.0f} | {result.p50_ms:.1f} | "
            f"{result.p99_ms:.1f} | {result.p99_ms / max(first_p99, 0.001):.2f}× | {result.bad} |"
        )
    seeder.pending(10_000)
    queue = seeder.time_queue()
    print()
    print(
        f"Moderation queue, first page with 10,000 pending among {seeder.total_comments():,} "
        f"comments, in process: the /moderate/ page p50 {queue['page'][0]:.2f} ms, "
        f"p99 {queue['page'][1]:.2f} ms; its query alone (review.pending_queue) "
        f"p50 {queue['query'][0]:.2f} ms, p99 {queue['query'][1]:.2f} ms."
    )
    print()
    print(f"Query plans with {seeder.total_comments():,} comments:")
    for name, plan in seeder.plans():
        print(f"\n{name}:\n\n```\n{plan}\n```")
    print(f"\nFinished {datetime.now(UTC):%H:%M} UTC; files in {workdir}")


if __name__ == "__main__":
    main()
