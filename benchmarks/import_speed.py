"""Print how fast an archive of 100,000 comments imports, against reading and storing it at all.

Run: ``.venv/bin/python benchmarks/import_speed.py [--comments 100000] [--formats disqus
wordpress] [--postgres URL]`` (SQLite always, in fresh files in a temporary folder; PostgreSQL
too with ``--postgres`` or ``$BENCH_DATABASE_URL``, a database it may wipe:
``benchmarks/with_postgres.sh .venv/bin/python benchmarks/import_speed.py`` starts a
throwaway one).

It writes, streaming, a Disqus export (and a WordPress WXR file) of that many comments across
about 2,000 threads of very different sizes: German sentences in ``<p>``, some with ``<br>``,
a tenth with a link; about 30 % replies, a quarter of them to a reply and some deeper; in the
Disqus file 2 % of the posts 300 places later than their own, so that some replies come
before what they answer; a few deleted and spam posts (WXR: also unapproved). Then, in the
same run, as the CLI is used:

* the import: ``flask --app wsgi import FORMAT FILE --site bench`` as a subprocess, into a
  fresh, migrated database with one site; wall time, comments/s and the process's peak RSS;
* the same command with ``--dry-run`` before it, once more after it (everything a duplicate),
  and ``export json`` of the result;

and the baselines, the parts any import of this file must do, each alone:

* reading: the format's ``read()`` over the file, every item made and dropped;
* sanitizing: :func:`moderation.sanitize.render_foreign_html` of every message (the policy
  every imported body passes);
* storing: the finished rows (bodies sanitized, parents resolved, ids given) written with the
  driver's ``executemany`` into the same migrated schema (its indexes and foreign keys, the
  app's SQLite pragmas, ``synchronous=FULL``), 2,000 rows per transaction as the import does.

Their sum is the floor: an import at 1.0x of it would add nothing of its own (no duplicate
lookups, no parent links, no report). Every time is measured once; the machine's load average
is printed before and after.
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
FLASK = [str(Path(sys.executable).with_name("flask")), "--app", "wsgi"]
TIME = "/usr/bin/time"
SITE = "bench"
# The lines of the import's report that are printed (not the examples of mappings and skips).
SUMMARY = ("Imported", "threads:", "comments:", "replies:", "skipped:", "in ")
BATCH = 2000  # rows per transaction in the storing baseline, as moderation.transfer.importer

# --- the archive ---------------------------------------------------------------------------

SENTENCES = [
    "Das sehe ich genauso, die Zahlen sprechen eine deutliche Sprache.",
    "Ich frage mich, wer das am Ende bezahlen soll.",
    "Wieder einmal wird über die Köpfe der Bürger hinweg entschieden.",
    "Sehr guter Artikel, endlich spricht das mal jemand offen aus.",
    "Die Straße vor unserem Haus ist seit drei Jahren eine Baustelle.",
    "Man sollte die Fakten prüfen, bevor man sich so weit aus dem Fenster lehnt.",
    "Mein Großvater hat das schon vor vierzig Jahren vorausgesagt.",
    "Warum berichtet eigentlich niemand über die Folgen für die Pendler?",
    "Im Gemeinderat wurde das Thema letzte Woche ausführlich besprochen.",
    "Die Bahn ist auch heute wieder zwanzig Minuten zu spät gekommen.",
    "Bitte bleiben Sie sachlich, persönliche Angriffe helfen niemandem.",
    "Ich wohne seit dreißig Jahren hier und habe so etwas noch nie erlebt.",
    "Das Ergebnis überrascht mich nicht, es war absehbar.",
    "Schade, dass die Opposition keinen eigenen Vorschlag gemacht hat.",
    "Die Mieten in der Innenstadt sind für Familien kaum noch bezahlbar.",
    "Wer im Winter mit dem Fahrrad fährt, weiß, wovon ich rede.",
    "Vielleicht sollte man erst einmal die Betroffenen fragen.",
    "Für die Schulen ist wieder kein Geld da, für alles andere schon.",
    "Ein sachlicher Beitrag zur Debatte wäre hier wünschenswert.",
    "Die Kommentare unter diesem Artikel zeigen, wie gespalten die Stadt ist.",
    "Ich habe den Bericht gelesen: Die Schlussfolgerung greift zu kurz.",
    "Kann mir jemand erklären, warum das so lange gedauert hat?",
    "Großartiges Spiel gestern, die zweite Halbzeit war überragend.",
    "Der Trainer muss endlich die jungen Spieler einsetzen.",
    "Die Ausstellung im Museum lohnt sich, wir waren am Sonntag dort.",
    "Über Geschmack lässt sich streiten, über Fakten nicht.",
    "Die Heizkosten haben sich bei uns fast verdoppelt.",
    "Wenn das so weitergeht, ziehen wir aufs Land.",
    "Danke für die ausführliche Recherche, das war sehr aufschlussreich.",
    "Ich bin gespannt, was der Stadtrat im Frühjahr daraus macht.",
]
FIRST_NAMES = [
    "Anna", "Jürgen", "Sabine", "Thomas", "Özlem", "Klaus", "Monika", "Stefan", "Jörg",
    "Petra", "Uwe", "Birgit", "Lukas", "Sophie", "Hans-Peter", "Käthe", "Mehmet", "Julia",
]  # fmt: skip
LAST_NAMES = [
    "Müller", "Schäfer", "Weiß", "Becker", "Groß", "Köhler", "Yılmaz", "Hoffmann", "Krüger",
    "Neumann", "Schröder", "Wagner", "Böhm", "Fuchs", "Lange", "Şahin", "Jäger", "Bauer",
]  # fmt: skip
RESSORTS = ["politik", "wirtschaft", "kultur", "sport", "panorama", "lokales", "wissen"]
TITLES = [
    "Haushalt beschlossen: Größere Lücke als geplant",
    "Neue Radwege für die Innenstadt",
    "Derby endet torlos",
    "Mieten steigen weiter",
    "Streit um die Schließung des Hallenbads",
    "Ausstellung zeigt Werke aus fünf Jahrhunderten",
    "Bahnstrecke bleibt bis Ostern gesperrt",
]
EPOCH = datetime(2019, 1, 1, tzinfo=UTC)
REPLY_SHARE = 0.3  # of the comments that have an earlier one in their thread
LATE_SHARE = 0.02  # posts written this far (LATE_BY posts) after their place in the file
LATE_BY = 300


@dataclass(slots=True)
class Fake:
    """One generated comment; ``parent`` is the index of an earlier one in its thread."""

    thread: int
    local: int
    parent: int | None
    created: datetime
    author: str
    email: str | None
    ip: str
    html: str
    status: str  # approved, unapproved (WXR only), spam, deleted


@dataclass
class Archive:
    """What was written: the file and what an import of it must give."""

    path: Path
    threads: int
    posts: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    replies: int = 0  # replies that are not deleted
    late: int = 0  # posts written LATE_BY places after their own


def message(rng: random.Random) -> str:
    """A comment's HTML as Disqus and WordPress keep it."""
    paragraphs = []
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
        sentences = rng.sample(SENTENCES, rng.randint(1, 3))
        paragraphs.append(("<br>" if rng.random() < 0.15 else " ").join(sentences))
    if rng.random() < 0.1:
        number = rng.randrange(1, 10_000)
        paragraphs[-1] += (
            f' Siehe <a href="https://www.example.org/bericht/{number}" rel="nofollow">'
            "den Bericht</a>."
        )
    return "".join(f"<p>{paragraph}</p>" for paragraph in paragraphs)


def thread_sizes(rng: random.Random, comments: int, threads: int) -> list[int]:
    """How many comments each thread gets: a few busy ones, many quiet ones (Zipf-like)."""
    sizes = [0] * threads
    weights = [1 / (rank + 1) ** 0.8 for rank in range(threads)]
    for thread in rng.choices(range(threads), weights=weights, k=comments):
        sizes[thread] += 1
    rng.shuffle(sizes)
    return sizes


def thread_start(thread: int, threads: int) -> datetime:
    return EPOCH + timedelta(days=1500 * thread / threads, hours=thread % 13)


def thread_comments(
    seed: int, thread: int, size: int, start: datetime, wxr: bool
) -> Iterator[Fake]:
    """A thread's comments, oldest first."""
    rng = random.Random(seed * 1_000_003 + thread)
    moment = start
    for local in range(size):
        moment += timedelta(seconds=1 + rng.expovariate(1 / 1800))
        parent = None
        if local and rng.random() < REPLY_SHARE:
            parent = max(0, local - 1 - int(rng.expovariate(1 / 4)))
        roll = rng.random()
        if roll < 0.02:
            status = "deleted"
        elif roll < 0.05:
            status = "spam"
        elif wxr and roll < 0.09:
            status = "unapproved"
        else:
            status = "approved"
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = None
        if rng.random() < 0.8:
            email = f"{first.lower()}.{last.lower()}{rng.randrange(100)}@example.org"
        if rng.random() < 0.9:
            ip = ".".join(str(rng.randrange(1, 224)) for _ in range(4))
        else:
            ip = f"2001:db8:{rng.randrange(65536):x}:{rng.randrange(65536):x}::1"
        yield Fake(
            thread, local, parent, moment, f"{first} {last}", email, ip, message(rng), status
        )


def thread_url(thread: int) -> str:
    ressort = RESSORTS[thread % len(RESSORTS)]
    year = 2019 + thread * 4 // 10_000
    query = "?utm_source=feed" if thread % 17 == 0 else ""
    return f"https://www.tageblatt.example/{ressort}/{year}/artikel-{thread}{query}"


def count(archive: Archive, fake: Fake) -> None:
    archive.posts += 1
    archive.by_status[fake.status] += 1
    if fake.parent is not None and fake.status != "deleted":
        archive.replies += 1


_DISQUS_HEAD = """<?xml version="1.0" encoding="utf-8"?>
<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <category dsq:id="1">
    <forum>tageblatt</forum>
    <title>General</title>
    <isDefault>true</isDefault>
  </category>
"""


def _disqus_thread(thread: int, threads: int) -> str:
    start = thread_start(thread, threads)
    return f"""  <thread dsq:id="{500_000 + thread}">
    <id>artikel-{thread}</id>
    <forum>tageblatt</forum>
    <category dsq:id="1" />
    <link>{escape(thread_url(thread))}</link>
    <title>{escape(TITLES[thread % len(TITLES)])} ({thread})</title>
    <message />
    <createdAt>{start:%Y-%m-%dT%H:%M:%SZ}</createdAt>
    <isClosed>{"true" if thread % 97 == 0 else "false"}</isClosed>
    <isDeleted>false</isDeleted>
  </thread>
"""


def _disqus_post(post_id: int, thread_id: int, parent_id: int | None, fake: Fake) -> str:
    email = f"\n      <email>{fake.email}</email>" if fake.email else ""
    parent = f'\n    <parent dsq:id="{parent_id}" />' if parent_id is not None else ""
    return f"""  <post dsq:id="{post_id}">
    <id />
    <message><![CDATA[{fake.html}]]></message>
    <createdAt>{fake.created:%Y-%m-%dT%H:%M:%SZ}</createdAt>
    <isDeleted>{"true" if fake.status == "deleted" else "false"}</isDeleted>
    <isSpam>{"true" if fake.status == "spam" else "false"}</isSpam>
    <author>{email}
      <name>{escape(fake.author)}</name>
      <isAnonymous>false</isAnonymous>
      <username>{escape(fake.author.lower().replace(" ", ""))}</username>
    </author>
    <ipAddress>{fake.ip}</ipAddress>
    <thread dsq:id="{thread_id}" />{parent}
  </post>
"""


def write_disqus(path: Path, comments: int, threads: int, seed: int) -> Archive:
    """A Disqus export, written as it is generated: the threads, then the posts of all
    threads interleaved by time (Disqus numbers them so), some of them later than their
    replies."""
    rng = random.Random(seed)
    sizes = thread_sizes(rng, comments, threads)
    archive = Archive(path, threads)
    ids: dict[tuple[int, int], int] = {}
    late: list[tuple[int, int, str]] = []
    with open(path, "w", encoding="utf-8") as out:
        out.write(_DISQUS_HEAD)
        for thread in range(threads):
            out.write(_disqus_thread(thread, threads))
        stream = heapq.merge(
            *(
                thread_comments(seed, t, sizes[t], thread_start(t, threads), wxr=False)
                for t in range(threads)
            ),
            key=lambda fake: fake.created,
        )
        for number, fake in enumerate(stream):
            post_id = 1_000_000 + number
            ids[(fake.thread, fake.local)] = post_id
            parent = ids[(fake.thread, fake.parent)] if fake.parent is not None else None
            xml = _disqus_post(post_id, 500_000 + fake.thread, parent, fake)
            count(archive, fake)
            if rng.random() < LATE_SHARE:
                heapq.heappush(late, (number + LATE_BY, number, xml))
                archive.late += 1
            else:
                out.write(xml)
            while late and late[0][0] <= number:
                out.write(heapq.heappop(late)[2])
        while late:
            out.write(heapq.heappop(late)[2])
        out.write("</disqus>\n")
    return archive


_WXR_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"
  xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"
  xmlns:content="http://purl.org/rss/1.0/modules/content/"
  xmlns:wfw="http://wellformedweb.org/CommentAPI/"
  xmlns:dc="http://purl.org/dc/elements/1.1/"
  xmlns:wp="http://wordpress.org/export/1.2/">
<channel>
  <title>Tageblatt</title>
  <link>https://www.tageblatt.example</link>
  <description>Nachrichten aus der Region</description>
  <language>de-DE</language>
  <wp:wxr_version>1.2</wp:wxr_version>
  <wp:base_site_url>https://www.tageblatt.example</wp:base_site_url>
  <wp:base_blog_url>https://www.tageblatt.example</wp:base_blog_url>
"""
_WXR_STATUS = {"approved": "1", "unapproved": "0", "spam": "spam", "deleted": "trash"}


def _wxr_comment(comment_id: int, parent_id: int, fake: Fake) -> str:
    when = f"{fake.created:%Y-%m-%d %H:%M:%S}"
    return f"""    <wp:comment>
      <wp:comment_id>{comment_id}</wp:comment_id>
      <wp:comment_author><![CDATA[{fake.author}]]></wp:comment_author>
      <wp:comment_author_email>{fake.email or ""}</wp:comment_author_email>
      <wp:comment_author_url></wp:comment_author_url>
      <wp:comment_author_IP>{fake.ip}</wp:comment_author_IP>
      <wp:comment_date>{when}</wp:comment_date>
      <wp:comment_date_gmt>{when}</wp:comment_date_gmt>
      <wp:comment_content><![CDATA[{fake.html}]]></wp:comment_content>
      <wp:comment_approved>{_WXR_STATUS[fake.status]}</wp:comment_approved>
      <wp:comment_type>comment</wp:comment_type>
      <wp:comment_parent>{parent_id}</wp:comment_parent>
      <wp:comment_user_id>0</wp:comment_user_id>
    </wp:comment>
"""


def write_wxr(path: Path, comments: int, threads: int, seed: int) -> Archive:
    """A WordPress export, written as it is generated: one ``<item>`` per post with its
    comments inside, oldest first (as WordPress writes them)."""
    rng = random.Random(seed)
    sizes = thread_sizes(rng, comments, threads)
    archive = Archive(path, threads)
    comment_id = 0
    with open(path, "w", encoding="utf-8") as out:
        out.write(_WXR_HEAD)
        for thread in range(threads):
            start = thread_start(thread, threads)
            closed = "closed" if thread % 97 == 0 else "open"
            out.write(
                f"""  <item>
    <title>{escape(TITLES[thread % len(TITLES)])} ({thread})</title>
    <link>{escape(thread_url(thread))}</link>
    <pubDate>{start:%a, %d %b %Y %H:%M:%S} +0000</pubDate>
    <dc:creator><![CDATA[redaktion]]></dc:creator>
    <content:encoded><![CDATA[<p>Der Artikel.</p>]]></content:encoded>
    <wp:post_id>{thread + 1}</wp:post_id>
    <wp:post_date>{start:%Y-%m-%d %H:%M:%S}</wp:post_date>
    <wp:post_date_gmt>{start:%Y-%m-%d %H:%M:%S}</wp:post_date_gmt>
    <wp:comment_status>{closed}</wp:comment_status>
    <wp:post_name>artikel-{thread}</wp:post_name>
    <wp:status>publish</wp:status>
    <wp:post_type>post</wp:post_type>
"""
            )
            ids: list[int] = []
            for fake in thread_comments(seed, thread, sizes[thread], start, wxr=True):
                comment_id += 1
                ids.append(comment_id)
                parent = ids[fake.parent] if fake.parent is not None else 0
                out.write(_wxr_comment(comment_id, parent, fake))
                count(archive, fake)
            out.write("  </item>\n")
        out.write("</channel>\n</rss>\n")
    return archive


WRITERS = {"disqus": write_disqus, "wordpress": write_wxr}

# --- databases -----------------------------------------------------------------------------


class Database:
    """A fresh, migrated database with the site ``bench``, for one measurement."""

    def __init__(self, folder: Path, postgres: str | None) -> None:
        self.folder = folder
        self.postgres = postgres
        self.number = 0
        self.name = "PostgreSQL" if postgres else "SQLite"

    def fresh(self) -> dict[str, str]:
        """The environment of the CLI on an empty database, migrated, with the site."""
        self.number += 1
        instance = self.folder / f"instance-{self.number}"
        url = self.postgres or f"sqlite:///{instance / 'import.sqlite3'}"
        env = {
            **os.environ,
            "MODERATION_DATABASE_URL": url,
            "MODERATION_INSTANCE_PATH": str(instance),
            "MODERATION_SECRET_KEY": "bench-secret",
        }
        if self.postgres:
            self.wipe()
        cli(env, "db", "upgrade")
        cli(
            env,
            "sites",
            "add",
            SITE,
            "--name",
            "Bench",
            "--origin",
            "https://www.tageblatt.example",
        )
        return env

    def wipe(self) -> None:
        from moderation import create_app
        from moderation.extensions import db

        app = create_app(
            {
                "INSTANCE_PATH": self.folder / "wipe",
                "DATABASE_URL": self.postgres,
                "SECRET_KEY": "x",
            }
        )
        with app.app_context():
            db.drop_all()
            with db.engine.begin() as connection:
                connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
            db.engine.dispose()

    @staticmethod
    def connect(env: dict[str, str]) -> Any:
        """A plain driver connection, set up as the app sets up its own."""
        url = env["MODERATION_DATABASE_URL"]
        if url.startswith("sqlite"):
            connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
            for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=FULL"):
                connection.execute(f"PRAGMA {pragma}")
            return connection
        import psycopg

        return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))


def cli(env: dict[str, str], *args: str, output: Path | None = None) -> tuple[float, float]:
    """Run ``flask --app wsgi ARGS`` and wait for it: (seconds, peak RSS in MB).

    The peak comes from GNU time (``/usr/bin/time``, Debian package ``time``; NaN without
    it), not from ``resource.getrusage(RUSAGE_CHILDREN)``: a child's ``ru_maxrss`` also counts
    the memory of the process it was forked from, here this one with its finished rows."""
    handle, name = tempfile.mkstemp(prefix="rss-")
    os.close(handle)
    peak = Path(name)
    timer = [TIME, "-f", "%M", "-o", str(peak)] if os.access(TIME, os.X_OK) else []
    with open(output or os.devnull, "w") as log:
        started = time.perf_counter()
        done = subprocess.run([*timer, *FLASK, *args], cwd=ROOT, env=env, stdout=log, stderr=log)
        took = time.perf_counter() - started
    if done.returncode != 0:
        shown = output.read_text()[-3000:] if output else ""
        raise SystemExit(f"flask {' '.join(args)} failed ({done.returncode}):\n{shown}")
    kilobytes = peak.read_text().strip().splitlines()[-1] if timer else ""
    peak.unlink()
    return took, int(kilobytes) / 1024 if kilobytes.isdigit() else float("nan")


# --- baselines -----------------------------------------------------------------------------


def read_only(source: str, path: Path) -> tuple[float, int]:
    """Seconds to read the whole file with the format's reader, and the items read."""
    from moderation.transfer import FORMATS

    items = 0
    started = time.perf_counter()
    for _ in FORMATS[source](str(path)):
        items += 1
    return time.perf_counter() - started, items


@dataclass
class Rows:
    """The finished rows of an import of the file, for the storing baseline."""

    articles: list[tuple[Any, ...]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    sanitize_seconds: float = 0.0


def finished_rows(source: str, path: Path, env: dict[str, str]) -> Rows:
    """What an import writes, made in memory: the sanitizing is timed on its own."""
    from moderation import create_app, privacy, sanitize
    from moderation.transfer import FORMATS
    from moderation.transfer.importer import ArticleKey, article_key
    from moderation.transfer.records import Post, SourceStatus, Thread

    app = create_app(
        {
            "INSTANCE_PATH": Path(env["MODERATION_INSTANCE_PATH"]),
            "DATABASE_URL": env["MODERATION_DATABASE_URL"],
            "SECRET_KEY": env["MODERATION_SECRET_KEY"],
        }
    )
    statuses = {
        SourceStatus.APPROVED: "approved",
        SourceStatus.UNAPPROVED: "pending",
        SourceStatus.SPAM: "spam",
    }
    rows = Rows()
    articles: dict[str, int] = {}  # thread source id → article id
    keys: dict[str, int] = {}  # article key → article id
    ids: dict[str, tuple[int, int | None]] = {}  # source id → (our id, our top-level id)
    now = datetime.now(UTC).replace(tzinfo=None)
    with app.app_context():
        for item in FORMATS[source](str(path)):
            if isinstance(item, Thread):
                key = article_key(item, ArticleKey.PATH)
                if key is not None and key not in keys:
                    keys[key] = len(keys) + 1
                    rows.articles.append((keys[key], key, item.title, item.url, item.closed, now))
                if key is not None:
                    articles[item.source_id] = keys[key]
                continue
            if not isinstance(item, Post) or item.status not in statuses:
                continue
            started = time.perf_counter()
            html = sanitize.render_foreign_html(item.text)
            rows.sanitize_seconds += time.perf_counter() - started
            comment_id = len(rows.comments) + 1
            parent = ids.get(item.parent_id or "")
            top = parent and (parent[1] or parent[0])
            ids[item.source_id] = (comment_id, top)
            rows.comments.append(
                {
                    "id": comment_id,
                    "article_id": articles[item.thread_id],
                    "parent_id": top,
                    "author": sanitize.normalize_text(item.author)[:200],
                    "email": item.email,
                    "body_raw": item.text,
                    "body_html": html,
                    "status": statuses[item.status],
                    "source_hash": privacy.source_hash(item.ip),
                    "source": source,
                    "source_id": item.source_id,
                    "source_parent_id": item.parent_id,
                    "created_at": item.created_at.replace(tzinfo=None) if item.created_at else now,
                }
            )
    return rows


_COLUMNS = (
    "id", "article_id", "parent_id", "author", "email", "body_raw", "body_html", "status",
    "source_hash", "source", "source_id", "source_parent_id", "created_at",
)  # fmt: skip


def _insert_sql(sqlite: bool) -> tuple[str, str]:
    """The INSERTs of the storing baseline in the driver's own parameter style."""
    p = "?" if sqlite else "%s"
    named = [f":{c}" if sqlite else f"%({c})s" for c in _COLUMNS]
    articles = (
        "INSERT INTO article (id, site_id, key, title, url, closed, version, approved_count, "
        f"created_at) VALUES ({p}, 1, {p}, {p}, {p}, {p}, 1, 0, {p})"
    )
    reasons = "'[]'" if sqlite else "'[]'::json"
    comments = (
        f"INSERT INTO comment ({', '.join(_COLUMNS)}, policy_version, reasons, notify, staff, "
        f"featured) VALUES ({', '.join(named)}, 1, {reasons}, false, false, false)"
    )
    return articles, comments


def store_only(env: dict[str, str], rows: Rows) -> float:
    """Seconds to write the finished rows with the driver's ``executemany``: the articles,
    then the comments, ``BATCH`` per transaction, then the articles' approved counts."""
    connection = Database.connect(env)
    sqlite = isinstance(connection, sqlite3.Connection)
    article_sql, comment_sql = _insert_sql(sqlite)
    cursor = connection.cursor()

    def transaction(sql: str, params: list[Any] | None = None) -> None:
        if sqlite:
            cursor.execute("BEGIN IMMEDIATE")
        if params is None:
            cursor.execute(sql)
        else:
            cursor.executemany(sql, params)
        if sqlite:
            cursor.execute("COMMIT")
        else:
            connection.commit()

    started = time.perf_counter()
    transaction(article_sql, rows.articles)
    for start in range(0, len(rows.comments), BATCH):
        transaction(comment_sql, rows.comments[start : start + BATCH])
    transaction(
        "UPDATE article SET approved_count = (SELECT count(*) FROM comment "
        "WHERE comment.article_id = article.id AND status = 'approved')"
    )
    took = time.perf_counter() - started
    connection.close()
    return took


# --- the run -------------------------------------------------------------------------------


@dataclass
class Result:
    database: str
    source: str
    comments: int
    imported: int
    import_s: float
    rss_mb: float
    dry_s: float
    rerun_s: float
    export_s: float
    export_mb: float
    read_s: float
    sanitize_s: float
    store_s: float
    startup_s: float
    startup_mb: float
    report: str
    checks: str

    @property
    def floor_s(self) -> float:
        return self.read_s + self.sanitize_s + self.store_s


def check(env: dict[str, str], archive: Archive) -> str:
    """What the import left in the database, as one line; raises if it is not what the file
    holds."""
    connection = Database.connect(env)
    cursor = connection.cursor()

    def one(sql: str) -> int:
        cursor.execute(sql)
        return int(cursor.fetchone()[0])

    total = one("SELECT count(*) FROM comment")
    linked = one("SELECT count(*) FROM comment WHERE parent_id IS NOT NULL")
    deep = one(
        "SELECT count(*) FROM comment c JOIN comment p ON p.id = c.parent_id "
        "WHERE p.parent_id IS NOT NULL"
    )
    approved = one("SELECT count(*) FROM comment WHERE status = 'approved'")
    counted = one("SELECT coalesce(sum(approved_count), 0) FROM article")
    connection.close()
    expected = archive.posts - archive.by_status["deleted"]
    if total != expected or approved != archive.by_status["approved"] or counted != approved:
        raise SystemExit(
            f"the import left {total} comments ({approved} approved, counted {counted}); "
            f"expected {expected} ({archive.by_status['approved']} approved)"
        )
    return (
        f"{total:,} comments, {approved:,} approved (articles' counts agree), {linked:,} "
        f"replies linked (of {archive.replies:,} not deleted; the rest answer a deleted post), "
        f"{deep} deeper than one level"
    )


def measure(
    source: str, archive: Archive, database: Database, folder: Path, read_s: float
) -> Result:
    # The storing baseline, in a database of its own (the same schema, migrated).
    env = database.fresh()
    rows = finished_rows(source, archive.path, env)
    store_s = store_only(env, rows)
    stored = len(rows.comments)
    sanitize_s = rows.sanitize_seconds
    del rows

    env = database.fresh()
    command = ["import", source, str(archive.path), "--site", SITE]
    startup_s, startup_mb = cli(env, "sites", "list")
    dry_s, _ = cli(env, *command, "--dry-run", output=folder / f"{source}-dry.log")
    import_s, rss_mb = cli(env, *command, output=folder / f"{source}-import.log")
    rerun_s, _ = cli(env, *command, output=folder / f"{source}-rerun.log")
    export = folder / f"{source}-export.json"
    export_s, _ = cli(env, "export", "json", "--site", SITE, "-o", str(export))
    report = (folder / f"{source}-import.log").read_text()
    rerun = (folder / f"{source}-rerun.log").read_text()
    imported = int(re.search(r"comments: ([\d,]+)", report).group(1).replace(",", ""))  # type: ignore[union-attr]
    if "comments: 0 " not in rerun or f"duplicate {stored:,}" not in rerun:
        raise SystemExit(f"the second run imported something:\n{rerun}")
    if imported != stored:
        raise SystemExit(f"imported {imported:,}, the baseline stored {stored:,}:\n{report}")
    checks = check(env, archive)
    return Result(
        database.name, source, archive.posts, imported, import_s, rss_mb, dry_s, rerun_s,
        export_s, export.stat().st_size / 1e6, read_s, sanitize_s, store_s, startup_s, startup_mb,
        "\n".join(line for line in report.splitlines() if line.strip().startswith(SUMMARY)),
        checks,
    )  # fmt: skip


def load() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def print_results(results: list[Result]) -> None:
    print()
    print(
        "| database | format | import s | comments/s | × floor | × read | dry run s | "
        "rerun s | export json s | peak RSS MB |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(
            f"| {r.database} | {r.source} | {r.import_s:.1f} | {r.imported / r.import_s:,.0f} | "
            f"{r.import_s / r.floor_s:.2f}× | {r.import_s / r.read_s:.2f}× | {r.dry_s:.1f} | "
            f"{r.rerun_s:.1f} | {r.export_s:.1f} | {r.rss_mb:.0f} |"
        )
    print()
    print("Baselines (the floor is their sum):")
    print()
    print("| database | format | read s | sanitize s | store (executemany) s | floor s |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for r in results:
        print(
            f"| {r.database} | {r.source} | {r.read_s:.1f} | {r.sanitize_s:.1f} | "
            f"{r.store_s:.1f} | {r.floor_s:.1f} |"
        )
    print()
    for r in results:
        print(f"{r.database}, {r.source}: {r.checks}.")
        print(
            f"  the CLI alone (flask --app wsgi sites list): {r.startup_s:.1f} s, "
            f"peak RSS {r.startup_mb:.0f} MB; export json: {r.export_mb:.0f} MB"
        )
        print("  " + r.report.replace("\n", "\n  "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comments", type=int, default=100_000)
    parser.add_argument("--threads", type=int, help="default: one per 50 comments")
    parser.add_argument(
        "--formats", nargs="+", choices=sorted(WRITERS), default=["disqus", "wordpress"]
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_DATABASE_URL") or None,
        metavar="URL",
        help="also on this PostgreSQL database, which is wiped (default: $BENCH_DATABASE_URL, "
        "set by benchmarks/with_postgres.sh)",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    threads = args.threads or max(1, args.comments // 50)

    sys.path.insert(0, str(ROOT))
    from benchmarks.run import machine  # the load benchmark's description, load included

    folder = Path(tempfile.mkdtemp(prefix="moderation-import-bench-"))
    print(f"# Import benchmark {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine()}; SQLite {sqlite3.sqlite_version}")
    databases = [Database(folder, None)]
    if args.postgres:
        databases.append(Database(folder, args.postgres))
    results = []
    try:
        for source in args.formats:
            path = folder / f"{source}.xml"
            started = time.perf_counter()
            archive = WRITERS[source](path, args.comments, threads, args.seed)
            took = time.perf_counter() - started
            print(
                f"{source}: wrote {archive.posts:,} comments in {threads:,} threads "
                f"({path.stat().st_size / 1e6:.0f} MB) in {took:.1f} s; "
                f"{dict(archive.by_status)}, {archive.replies:,} replies, "
                f"{archive.late:,} written {LATE_BY} posts late"
            )
            read_s, items = read_only(source, path)
            print(f"  read(): {items:,} items in {read_s:.1f} s ({items / read_s:,.0f}/s)")
            for database in databases:
                result = measure(source, archive, database, folder, read_s)
                print(f"  {database.name}: imported in {result.import_s:.1f} s")
                results.append(result)
            path.unlink()
        print_results(results)
        print(f"\nload average after: {load()}")
    finally:
        if args.keep:
            print(f"files in {folder}")
        else:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
