"""Reading a Remark42 backup: pages named by URL, Markdown, pins, deletions, broken lines."""

from __future__ import annotations

import gzip
import shutil
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from moderation.transfer import remark42
from moderation.transfer.records import (
    Markup,
    Post,
    Skip,
    SkipReason,
    SourceStatus,
    Thread,
    UnreadableFile,
)

FIXTURE = Path(__file__).parent / "fixtures" / "transfer" / "remark42.jsonl"
OPEN = "https://example.org/2019/06/offen/"
CLOSED = "https://example.org/2019/06/geschlossen/"
HEAD = '{"version":1,"users":[],"posts":[]}\n'


def post(source_id: str, thread_id: str, **fields: object) -> Post:
    values: dict[str, object] = {
        "parent_id": None,
        "email": None,
        "markup": Markup.TEXT,
        "status": SourceStatus.APPROVED,
    }
    values.update(fields)
    return Post(source_id=source_id, thread_id=thread_id, **values)


EXPECTED = [
    Thread(OPEN, url=OPEN, identifier=OPEN, title="Offener Artikel", closed=False),
    post(
        "5c1a0b2e-0001",
        OPEN,
        author="Jürgen Müller",
        # Remark42 keeps the Markdown with HTML's special characters as entities
        text="Erster! **fett** und don't & <3 Größe",
        created_at=datetime(2019, 6, 18, 17, 53, 48, 125686, tzinfo=UTC),
        ip="293ec5b0cf154855258824ec7fac5dc63d176915",
    ),
    post(
        "5c1a0b2e-0002",
        OPEN,
        parent_id="5c1a0b2e-0001",
        author="Redaktion",
        text="Danke!\n\n> zitiert",
        created_at=datetime(2019, 6, 18, 18, 10, tzinfo=UTC),
        ip="0c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d",
        featured=True,
    ),
    post(
        "5c1a0b2e-0003",
        OPEN,
        parent_id="5c1a0b2e-0002",
        author="Ich <3 Kommentare",
        text="Antwort auf die Antwort",
        created_at=datetime(2019, 6, 19, 7, 30, 15, 500000, tzinfo=UTC),
        ip="7d1c9ea2b3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8",
    ),
    post(
        "5c1a0b2e-0004",
        OPEN,
        author="deleted",
        text="",
        markup=Markup.HTML,
        created_at=datetime(2019, 6, 20, 10, 0, tzinfo=UTC),
        status=SourceStatus.DELETED,
    ),
    Thread(CLOSED, url=CLOSED, identifier=CLOSED, title="Geschlossener Artikel", closed=True),
    post(
        "5c1a0b2e-0005",
        CLOSED,
        author="Anna",
        text="<p>Alt, ohne <em>orig</em>.</p>\n",
        markup=Markup.HTML,
        created_at=datetime(2019, 6, 21, 8, 0, 0, 123456, tzinfo=UTC),
        ip="aa11bb22cc33dd44ee55ff6677889900aabbccdd",
    ),
    Skip(
        "line 7",
        SkipReason.INVALID,
        "not JSON: Unterminated string starting at: line 1 column 39 (char 38)",
    ),
    post(
        "5c1a0b2e-0007",
        CLOSED,
        parent_id="5c1a0b2e-0005",
        author="Anna",
        text="Ohne Zeit",
        created_at=None,  # Go's zero time
    ),
    Skip("5c1a0b2e-0008", SkipReason.INVALID, "the comment names no page (locator.url)"),
    Skip("line 11", SkipReason.INVALID, "the comment has no id"),
]


def gzipped(source: Path, target: Path) -> str:
    with source.open("rb") as raw, gzip.open(target, "wb") as packed:
        shutil.copyfileobj(raw, packed)
    return str(target)


def test_reads_pages_and_comments_in_file_order() -> None:
    assert list(remark42.read(str(FIXTURE))) == EXPECTED


def test_reads_the_gzipped_backup_alike(tmp_path: Path) -> None:
    path = gzipped(FIXTURE, tmp_path / "remark-zeitung-20190622.gz")
    assert list(remark42.read(path)) == EXPECTED


def test_a_backup_without_its_head_line_is_read(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl"
    path.write_text("\n".join(FIXTURE.read_text(encoding="utf-8").splitlines()[2:4]) + "\n")
    items = list(remark42.read(str(path)))
    assert [type(item) for item in items] == [Thread, Post, Post]
    assert items[0] == Thread(OPEN, url=OPEN, identifier=OPEN, title="Offener Artikel")
    assert [item.source_id for item in items[1:]] == ["5c1a0b2e-0002", "5c1a0b2e-0003"]


def test_a_first_line_that_is_not_json_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "backup.txt"
    path.write_text("Remark42 backup, see attachment\n" + HEAD, encoding="utf-8")
    with pytest.raises(UnreadableFile, match="Not a Remark42 backup: line 1 is not JSON"):
        list(remark42.read(str(path)))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        ('["version", 1]\n', "line 1 is not a JSON object"),
        ('{"version":1,"comments":[],"commenters":[]}\n', "neither the backup's head nor"),
        ('{"version":2,"users":[],"posts":[]}\n', "version 2 is not supported"),
    ],
)
def test_a_file_that_is_no_backup_is_unreadable(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "backup.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UnreadableFile, match=message):
        list(remark42.read(str(path)))


def test_a_damaged_gzip_file_is_unreadable(tmp_path: Path) -> None:
    packed = Path(gzipped(FIXTURE, tmp_path / "backup.gz")).read_bytes()
    path = tmp_path / "cut.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(UnreadableFile, match="damaged or cut short"):
        list(remark42.read(str(path)))


def test_a_big_backup_is_read_in_constant_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.gz"
    line = (
        '{"id":"c%d","pid":"","text":"<p>Kommentar</p>","orig":"Kommentar Nummer %d",'
        '"user":{"name":"Leser","id":"anonymous_1","ip":"293ec5b0cf154855258824ec7fac5dc63d176915"},'
        '"locator":{"site":"zeitung","url":"https://example.org/artikel/%d"},'
        '"score":0,"time":"2019-06-18T12:53:48-05:00"}\n'
    )
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as out:
        out.write(HEAD)
        for number in range(200_000):
            out.write(line % (number, number, number % 100))
    tracemalloc.start()
    try:
        count = sum(1 for _ in remark42.read(str(path)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 200_000 + 100  # comments and their pages
    assert peak < 20_000_000
