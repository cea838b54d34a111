"""Reading a Commento or Comentario export: pages first, states, replies, anonymous readers."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from moderation.transfer import commento
from moderation.transfer.records import (
    Markup,
    Post,
    Skip,
    SkipReason,
    SourceStatus,
    Thread,
    UnreadableFile,
)

FIXTURE = Path(__file__).parent / "fixtures" / "transfer" / "commento.json"
WAHL = "zeitung.example/politik/wahl"
THEATER = "zeitung.example/kultur/theater"
FIRST = "e7069a7dfcfaed43caf62300a9b0edb1c124ad79d0f5887c93649c15d7f69945"
HELD = "ea5f7bcd6ac9bb7b657f7d0569831104e1bcf9c253d03c1e16bf9654c49a5ce9"


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
    Thread(WAHL, url="https://zeitung.example/politik/wahl", identifier="/politik/wahl"),
    Thread(THEATER, url="https://zeitung.example/kultur/theater", identifier="/kultur/theater"),
    post(  # a reply before its parent, as in the export
        "7d77e39fcd813241d6281478cc8f21ab5f807d043c750bc1a936bc23b34fb854",
        WAHL,
        parent_id=FIRST,
        text="Stimmt, aber *warum*?",
        created_at=datetime(2021, 3, 17, 12, 9, 47, 722181, tzinfo=UTC),
    ),
    post(
        FIRST,
        WAHL,
        author="Jürgen Müller",
        email="juergen@example.org",
        text="Guter **Punkt**, danke!\n\nGrüße aus Köln",
        created_at=datetime(2021, 3, 12, 11, 21, 56, tzinfo=UTC),
    ),
    post(
        HELD,
        THEATER,
        author="Zoë",
        text="Wartet noch auf Freigabe.",
        created_at=datetime(2021, 4, 1, 6, 0, tzinfo=UTC),
        status=SourceStatus.UNAPPROVED,
    ),
    post(
        "0b9d6f3c1a2e4d5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f",
        THEATER,
        text="Billige Uhren <script>alert(1)</script> [hier](http://spam.example)",
        created_at=datetime(2021, 4, 2, 3, 4, 5, tzinfo=UTC),
        status=SourceStatus.SPAM,
    ),
    post(  # deleted in Commento: blanked, without the flag (its export lacks the column)
        "e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5",
        WAHL,
        text="[deleted]",
        created_at=datetime(2021, 4, 2, 9, 0, tzinfo=UTC),
        status=SourceStatus.DELETED,
    ),
    post(  # deleted in Comentario: flagged
        "f1e2d3c4b5a697887766554433221100ffeeddccbbaa99887766554433221100",
        THEATER,
        parent_id=HELD,
        text="[deleted]",
        created_at=datetime(2021, 4, 3, 10, 0, tzinfo=UTC),
        status=SourceStatus.DELETED,
    ),
    Skip(
        "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3",
        SkipReason.INVALID,
        "unknown state 'archived'",
    ),
    post(  # a commenter missing from the export's commenters; Go's zero time
        "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4",
        WAHL,
        text="Von jemandem, der nicht mehr unter den Kommentierenden ist.",
        created_at=None,
    ),
]


def test_reads_pages_first_then_comments_in_export_order() -> None:
    assert list(commento.read(str(FIXTURE))) == EXPECTED


def test_reads_the_gzipped_export_alike(tmp_path: Path) -> None:
    path = tmp_path / "commento-export.json.gz"
    path.write_bytes(gzip.compress(FIXTURE.read_bytes()))
    assert list(commento.read(str(path))) == EXPECTED


def write(tmp_path: Path, export: object) -> str:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    return str(path)


def test_reads_comentarios_spelling(tmp_path: Path) -> None:
    comment = {
        "commentHex": "ab",
        "host": "zeitung.example",
        "path": "/politik/wahl",
        "url": "/politik/wahl",
        "commenterHex": "0" * 64,
        "markdown": "Hallo",
        "parentHex": "root",
        "state": "approved",
        "creationDate": "2021-03-12T11:21:56Z",
        "deleted": False,
    }
    commenter = {"commenterHex": "0" * 64, "name": "Anonymous", "email": ""}
    export = {"version": 1, "comments": [comment], "commenters": [commenter]}
    assert list(commento.read(write(tmp_path, export))) == [
        Thread(WAHL, url="https://zeitung.example/politik/wahl", identifier="/politik/wahl"),
        post("ab", WAHL, text="Hallo", created_at=datetime(2021, 3, 12, 11, 21, 56, tzinfo=UTC)),
    ]


@pytest.mark.parametrize(
    ("page", "thread"),
    [
        (
            {"domain": "zeitung.example", "url": "kein-schraegstrich"},
            Thread(
                "zeitung.example/kein-schraegstrich",
                url="https://zeitung.example/kein-schraegstrich",
                identifier="kein-schraegstrich",
            ),
        ),
        ({"url": "/ohne-domain"}, Thread("/ohne-domain", identifier="/ohne-domain")),
        (
            {"domain": "zeitung.example", "url": "https://www.zeitung.example/a?b=1"},
            Thread(
                "www.zeitung.example/a",
                url="https://www.zeitung.example/a?b=1",
                identifier="/a",
            ),
        ),
    ],
)
def test_names_pages_from_what_the_comment_gives(
    tmp_path: Path, page: dict[str, str], thread: Thread
) -> None:
    comment = {"commentHex": "ab", "markdown": "Hallo", "parentHex": "root", "state": "approved"}
    items = list(commento.read(write(tmp_path, {"version": 1, "comments": [comment | page]})))
    assert items[0] == thread
    assert items[1].thread_id == thread.source_id


def test_comments_without_id_or_page_are_skipped(tmp_path: Path) -> None:
    comments = [
        "kein Objekt",
        {"url": "/a", "domain": "zeitung.example", "state": "approved"},
        {"commentHex": "cd", "state": "approved", "parentHex": "root"},
    ]
    items = list(commento.read(write(tmp_path, {"version": 1, "comments": comments})))
    assert items == [
        Thread("zeitung.example/a", url="https://zeitung.example/a", identifier="/a"),
        Skip("comment 1", SkipReason.INVALID, "not a JSON object"),
        Skip("comment 2", SkipReason.INVALID, "the comment has no commentHex"),
        Skip("cd", SkipReason.INVALID, "the comment names no page"),
    ]


@pytest.mark.parametrize(
    ("export", "message"),
    [
        ({"version": 2}, "Commento export version 2 is not supported"),
        ({"comments": [], "commenters": []}, "version None is not supported"),
        ({"version": "1", "comments": []}, "version '1' is not supported"),
        ({"version": 1}, "lacks the lists of comments and commenters"),
        ({"version": 1, "comments": {}, "commenters": []}, "lacks the lists"),
        ([1, 2, 3], "holds no JSON object"),
    ],
)
def test_an_export_of_another_shape_is_unreadable(
    tmp_path: Path, export: object, message: str
) -> None:
    with pytest.raises(UnreadableFile, match=message):
        list(commento.read(write(tmp_path, export)))


def test_a_file_that_is_not_json_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text('{"version": 1, "comments": [', encoding="utf-8")
    with pytest.raises(UnreadableFile, match="Not a Commento export: the file is not JSON"):
        list(commento.read(str(path)))


def test_a_damaged_gzip_file_is_unreadable(tmp_path: Path) -> None:
    packed = gzip.compress(FIXTURE.read_bytes())
    path = tmp_path / "export.json.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(UnreadableFile, match="Cannot read the Commento export"):
        list(commento.read(str(path)))
