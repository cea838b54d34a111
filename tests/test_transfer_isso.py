"""Reading an Isso database: threads, then comments with their states, parents and times."""

from __future__ import annotations

import hashlib
import sqlite3
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from moderation.transfer import isso
from moderation.transfer.records import (
    Markup,
    Post,
    Skip,
    SkipReason,
    SourceStatus,
    Thread,
    UnreadableFile,
)

FIXTURES = Path(__file__).parent / "fixtures" / "transfer"
WAHL = "/2024/05/wahlkampf-in-muenchen/"


def make_db(path: Path, script: str | None = None) -> str:
    connection = sqlite3.connect(path)
    connection.executescript(script or (FIXTURES / "isso.sql").read_text(encoding="utf-8"))
    connection.close()
    return str(path)


@pytest.fixture
def isso_db(tmp_path: Path) -> str:
    return make_db(tmp_path / "comments.db")


def post(source_id: str, thread_id: str, **fields: object) -> Post:
    values: dict[str, object] = {
        "parent_id": None,
        "author": "",
        "email": None,
        "markup": Markup.TEXT,
        "status": SourceStatus.APPROVED,
    }
    values.update(fields)
    return Post(source_id=source_id, thread_id=thread_id, **values)


EXPECTED = [
    Thread(
        "1", url=WAHL, identifier=WAHL, title="Wahlkampf in München: Öffis, Mieten, Grünflächen"
    ),
    Thread("2", url="/blog/hallo-welt/", identifier="/blog/hallo-welt/", title=None),
    post(
        "1",
        "1",
        author="Jürgen Müller",
        email="juergen@example.org",
        text="Schöner Artikel über die Großstadt. Grüße aus Köln!",
        created_at=datetime(2024, 5, 1, 10, 0, tzinfo=UTC),
        ip="192.168.1.0",
    ),
    post(
        "2",
        "1",
        parent_id="1",
        author="Anna",
        text="**Fett** und *kursiv*, ein [Link](https://example.org).\n\n"
        'Zweiter Absatz mit <script>alert("x")</script> & Co.',
        created_at=datetime(2024, 5, 1, 11, 0, 0, 500000, tzinfo=UTC),
        ip="10.0.0.0",
    ),
    post(
        "3",
        "1",
        parent_id="2",
        text="Antwort auf die Antwort – wartet noch.",
        created_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        status=SourceStatus.UNAPPROVED,
        ip="2001:db8::",
    ),
    post(
        "4",
        "2",
        text="",
        created_at=datetime(2024, 6, 1, 0, 0, tzinfo=UTC),
        status=SourceStatus.DELETED,
        ip="172.16.0.0",
    ),
    post(
        "5",
        "2",
        parent_id="4",
        author="Ölaf Ärmel",
        text="Antwort auf einen gelöschten Kommentar.",
        created_at=datetime(2024, 6, 1, 1, 0, tzinfo=UTC),
        ip="172.16.0.0",
    ),
    post(
        "6",
        "99",
        author="Zoë",
        text="Verwaist: die Seite fehlt.",
        created_at=datetime(2024, 6, 1, 2, 0, tzinfo=UTC),
    ),
    Skip("7", SkipReason.INVALID, "unknown mode 3"),
    post("8", "2", author="Max", text="Datum unlesbar.", created_at=None, ip="192.168.1.0"),
]


def test_reads_threads_then_comments_in_id_order(isso_db: str) -> None:
    assert list(isso.read(isso_db)) == EXPECTED


def test_never_changes_the_database(isso_db: str) -> None:
    before = hashlib.sha256(Path(isso_db).read_bytes()).hexdigest()
    list(isso.read(isso_db))
    assert hashlib.sha256(Path(isso_db).read_bytes()).hexdigest() == before


def test_reads_a_file_whose_name_looks_like_a_uri(tmp_path: Path) -> None:
    path = make_db(tmp_path / "Kopie #2 ?mode=rw&x.db")
    assert list(isso.read(path)) == EXPECTED


def test_a_text_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "comments.db"
    path.write_text("[general]\ndbpath = /var/lib/isso/comments.db\n", encoding="utf-8")
    with pytest.raises(UnreadableFile, match="Not an SQLite database"):
        list(isso.read(str(path)))


def test_an_sqlite_file_without_isso_tables_is_unreadable(tmp_path: Path) -> None:
    path = make_db(tmp_path / "other.db", "CREATE TABLE posts (id INTEGER PRIMARY KEY);")
    with pytest.raises(UnreadableFile, match="Not an Isso database: .* no 'threads' table"):
        list(isso.read(path))


def test_a_comments_table_without_isso_columns_is_unreadable(tmp_path: Path) -> None:
    script = (
        "CREATE TABLE threads (id INTEGER PRIMARY KEY, uri VARCHAR, title VARCHAR);"
        "CREATE TABLE comments (id INTEGER PRIMARY KEY, tid INTEGER, body TEXT);"
    )
    path = make_db(tmp_path / "other.db", script)
    with pytest.raises(UnreadableFile, match="'comments' lacks author, created, mode"):
        list(isso.read(path))


def test_a_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile, match="Cannot open the Isso database"):
        list(isso.read(str(tmp_path / "missing.db")))


def test_comments_are_streamed_not_loaded(tmp_path: Path) -> None:
    path = make_db(tmp_path / "big.db")
    connection = sqlite3.connect(path)
    rows = (
        (1, None, 1714557600.0 + i, 1, "192.168.1.0", f"Kommentar {i} " + "x" * 200, "Leser", b"")
        for i in range(100_000)
    )
    connection.executemany(
        "INSERT INTO comments (tid, parent, created, mode, remote_addr, text, author, voters)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    connection.commit()
    connection.close()
    tracemalloc.start()
    try:
        count = sum(1 for _ in isso.read(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == len(EXPECTED) + 100_000
    assert peak < 5_000_000
