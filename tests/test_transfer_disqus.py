"""The Disqus reader on its own: what an export becomes, item by item, and what it refuses.

No app or database: the reader only turns a file into records, so every awkward case of the
format (replies before their parents, empty ids, deleted threads, bad dates, entity bombs) is
checked here, and the import engine's tests need not repeat them.
"""

from __future__ import annotations

import gzip
import shutil
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from moderation.transfer import disqus
from moderation.transfer.records import (
    Item,
    Markup,
    Post,
    Skip,
    SkipReason,
    SourceStatus,
    Thread,
    UnreadableFile,
)

FIXTURES = Path(__file__).parent / "fixtures" / "transfer"
DISQUS = FIXTURES / "disqus.xml"

APPROVED = SourceStatus.APPROVED


def post(
    source_id: str,
    thread_id: str,
    *,
    author: str,
    text: str,
    created_at: datetime | None,
    parent_id: str | None = None,
    email: str | None = None,
    status: SourceStatus = APPROVED,
    ip: str | None = None,
) -> Post:
    """A post as the reader gives it: always HTML, approved unless Disqus says otherwise."""
    return Post(
        source_id=source_id,
        thread_id=thread_id,
        parent_id=parent_id,
        author=author,
        email=email,
        text=text,
        markup=Markup.HTML,
        created_at=created_at,
        status=status,
        ip=ip,
    )


def at(text: str) -> datetime:
    """A UTC time from its plain spelling."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


FIRST_MESSAGE = (
    "<p>Das ist doch völlig übertrieben! Die Straße bleibt marode.</p>"
    '<p>Siehe <a href="https://example.org/bericht" rel="nofollow noopener" '
    'title="https://example.org/bericht">den Bericht</a><br>und urteilt selbst.</p>'
    '<script>alert("xss")</script>'
)

EXPECTED: list[Item] = [
    Thread(
        source_id="5001",
        url="https://www.tageblatt.example/politik/2012/haushalt-beschlossen",
        identifier="artikel-42",
        title="Haushalt beschlossen: Größere Lücke als geplant",
        closed=False,
    ),
    Thread(
        source_id="5002",
        url="https://www.tageblatt.example/sport/derby-endet-torlos?utm_source=feed",
        identifier=None,
        title="Derby endet torlos",
        closed=True,
    ),
    Thread(
        source_id="5003",
        url="https://www.tageblatt.example/archiv/alt-7",
        identifier="alt-7",
        title="Entfernter Artikel",
        closed=False,
    ),
    post(
        "9003",
        "5001",
        parent_id="9002",
        author="Jens Müller",
        email="jens@example.net",
        text="<p>Und was sagt die Opposition dazu?</p>",
        created_at=at("2012-01-05 14:02:00"),
        ip="198.51.100.23",
    ),
    post(
        "9002",
        "5001",
        parent_id="9001",
        author="Anna Schäfer",
        email="anna.schaefer@example.org",
        text="<p>Übertrieben? Die Zahlen stehen im Bericht.</p>",
        created_at=at("2012-01-05 13:15:00"),
        ip="2001:db8::17",
    ),
    post(
        "9001",
        "5001",
        author="Grete Weiß",
        email="grete@example.com",
        text=FIRST_MESSAGE,
        created_at=at("2012-01-05 12:46:28"),
        ip="192.0.2.10",
    ),
    post(
        "9004",
        "5001",
        author="Gast",
        text="<p>Ich sage nur: Bürgerbegehren.</p>",
        created_at=at("2012-01-06 09:00:00"),
        ip="192.0.2.44",
    ),
    post(
        "9005",
        "5001",
        author="kommentar_fan",
        email="fan@example.com",
        text="<p>Ohne Namen, nur mit Benutzernamen.</p>",
        created_at=at("2012-01-06 09:30:00"),
    ),
    post(
        "9006",
        "5001",
        author="Weg",
        email="weg@example.com",
        text="<p>Gelöscht.</p>",
        created_at=at("2012-01-06 10:00:00"),
        status=SourceStatus.DELETED,
        ip="192.0.2.45",
    ),
    post(
        "9007",
        "5001",
        author="Uhrenhändler",
        email="spam@spam.example",
        text='<p>Billige Uhren hier: <a href="http://spam.example/">klick</a></p>',
        created_at=at("2012-01-06 11:00:00"),
        status=SourceStatus.SPAM,
        ip="203.0.113.99",
    ),
    post(
        "9008",
        "5002",
        author="Zeitreisender",
        email="zeit@example.com",
        text="<p>Datum kaputt.</p>",
        created_at=None,
        ip="192.0.2.46",
    ),
    post(
        "9009",
        "5002",
        author="Stadionfan",
        email="fan@example.com",
        text="\n<p>Endlich Ruhe im Stadion.</p>\n",
        created_at=at("2012-02-11 19:05:00"),
        ip="192.0.2.47",
    ),
    post(
        "9010",
        "5003",
        author="Früher",
        text="<p>Alter Kommentar zum entfernten Artikel.</p>",
        created_at=at("2011-12-01 09:00:00"),
        status=SourceStatus.DELETED,
        ip="192.0.2.48",
    ),
    Skip("?", SkipReason.INVALID, "a post without dsq:id"),
    Skip("9012", SkipReason.INVALID, "a post without its thread's dsq:id"),
    post(
        "9013",
        "5002",
        author="",
        text="<p>Ganz ohne Autor.</p>",
        created_at=at("2012-01-07 11:00:00"),
    ),
]


def collect(path: Path) -> tuple[list[Item], Exception | None]:
    """What the reader yielded before it stopped, and why it stopped, if it failed."""
    items: list[Item] = []
    try:
        for item in disqus.read(str(path)):
            items.append(item)
    except Exception as error:
        return items, error
    return items, None


def test_name() -> None:
    assert disqus.NAME == "disqus"


def test_export_reads_as_threads_posts_and_skips_in_file_order() -> None:
    assert list(disqus.read(str(DISQUS))) == EXPECTED


def test_times_are_aware_utc() -> None:
    times = [item.created_at for item in disqus.read(str(DISQUS)) if isinstance(item, Post)]
    assert all(moment is None or moment.utcoffset() is not None for moment in times)
    assert all(moment is None or moment.tzinfo == UTC for moment in times)


def test_reply_chain_three_levels_deep_with_children_listed_first() -> None:
    posts = {item.source_id: item for item in disqus.read(str(DISQUS)) if isinstance(item, Post)}
    assert posts["9003"].parent_id == "9002"
    assert posts["9002"].parent_id == "9001"
    assert posts["9001"].parent_id is None
    order = [item.source_id for item in EXPECTED if isinstance(item, Post)]
    assert order.index("9003") < order.index("9002") < order.index("9001")


def test_message_html_is_kept_exactly_for_the_sanitizer() -> None:
    posts = {item.source_id: item for item in disqus.read(str(DISQUS)) if isinstance(item, Post)}
    assert "<script>" in posts["9001"].text
    assert posts["9001"].text == FIRST_MESSAGE


def test_a_post_marked_not_approved_stays_unpublished(tmp_path: Path) -> None:
    path = tmp_path / "export.xml"
    text = DISQUS.read_text(encoding="utf-8").replace(
        "<isSpam>false</isSpam>", "<isSpam>false</isSpam><isApproved>false</isApproved>", 1
    )
    path.write_text(text, encoding="utf-8")
    posts = [item for item in disqus.read(str(path)) if isinstance(item, Post)]
    assert posts[0].source_id == "9003"
    assert posts[0].status is SourceStatus.UNAPPROVED
    assert {post.status for post in posts[1:]} == {
        APPROVED,
        SourceStatus.DELETED,
        SourceStatus.SPAM,
    }


def test_gzipped_export_reads_the_same(tmp_path: Path) -> None:
    packed = tmp_path / "export.xml.gz"
    with open(DISQUS, "rb") as source, gzip.open(packed, "wb") as target:
        shutil.copyfileobj(source, target)
    assert list(disqus.read(str(packed))) == EXPECTED


def test_gzip_detected_by_content_not_name(tmp_path: Path) -> None:
    packed = tmp_path / "export.xml"
    packed.write_bytes(gzip.compress(DISQUS.read_bytes()))
    assert list(disqus.read(str(packed))) == EXPECTED


@pytest.mark.parametrize("name", ["billion-laughs.xml", "external-entity.xml"])
def test_entities_are_refused_before_anything_is_read(name: str) -> None:
    items, error = collect(FIXTURES / name)
    assert items == []
    assert isinstance(error, UnreadableFile)
    assert "Refused" in str(error)


def test_entities_are_refused_when_gzipped_too(tmp_path: Path) -> None:
    packed = tmp_path / "bomb.xml.gz"
    packed.write_bytes(gzip.compress((FIXTURES / "billion-laughs.xml").read_bytes()))
    items, error = collect(packed)
    assert items == []
    assert isinstance(error, UnreadableFile)


def test_another_format_is_refused_by_its_root() -> None:
    items, error = collect(FIXTURES / "wordpress-1.2.xml")
    assert items == []
    assert isinstance(error, UnreadableFile)
    assert "Not a Disqus export: root element is <rss>" in str(error)


def test_not_xml_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "export.xml"
    path.write_text('{"threads": []}', encoding="utf-8")
    items, error = collect(path)
    assert items == []
    assert isinstance(error, UnreadableFile)


def test_truncated_gzip_is_unreadable(tmp_path: Path) -> None:
    packed = gzip.compress(DISQUS.read_bytes())
    path = tmp_path / "export.xml.gz"
    path.write_bytes(packed[: len(packed) // 2])
    _, error = collect(path)
    assert isinstance(error, UnreadableFile)


def test_truncated_xml_is_unreadable_after_what_came_before(tmp_path: Path) -> None:
    text = DISQUS.read_text(encoding="utf-8")
    path = tmp_path / "export.xml"
    path.write_text(text[: text.index('<post dsq:id="9001">') + 30], encoding="utf-8")
    items, error = collect(path)
    assert isinstance(error, UnreadableFile)
    assert items == EXPECTED[:5]


def test_a_large_export_is_read_in_constant_memory(tmp_path: Path) -> None:
    """Posts are yielded one at a time and forgotten: the peak stays far below the file."""
    count = 40_000
    path = tmp_path / "large.xml"
    with open(path, "w", encoding="utf-8") as out:
        out.write(
            '<?xml version="1.0" encoding="utf-8"?>\n<disqus xmlns="http://disqus.com" '
            'xmlns:dsq="http://disqus.com/disqus-internals">\n<thread dsq:id="1"><id>a</id>'
            "<link>https://www.tageblatt.example/a</link><title>A</title>"
            "<isClosed>false</isClosed><isDeleted>false</isDeleted></thread>\n"
        )
        for number in range(count):
            out.write(
                f'<post dsq:id="{number + 10}"><id /><message><![CDATA[<p>Kommentar Nummer '
                f"{number}, mit ein wenig Text, damit die Datei wächst.</p>]]></message>"
                "<createdAt>2012-01-05T12:46:28Z</createdAt><isDeleted>false</isDeleted>"
                f"<isSpam>false</isSpam><author><email>leser{number}@example.com</email>"
                f"<name>Leser {number}</name><isAnonymous>false</isAnonymous>"
                f"<username>leser{number}</username></author><ipAddress>192.0.2.1</ipAddress>"
                '<thread dsq:id="1" /></post>\n'
            )
        out.write("</disqus>\n")
    size = path.stat().st_size
    assert size > 15_000_000

    tracemalloc.start()
    try:
        posts = sum(1 for item in disqus.read(str(path)) if isinstance(item, Post))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert posts == count
    assert peak < 5_000_000
