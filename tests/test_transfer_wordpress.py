"""The WordPress (WXR) reader and writer on their own: what an export becomes, item by item,
what is refused, and that what we write for WordPress and Disqus reads back the same.

No app or database: the reader only turns a file into records and the writer only turns
records into a file.
"""

from __future__ import annotations

import gzip
import io
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from moderation.transfer import wordpress
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
from moderation.transfer.wordpress import ExportComment, ExportThread

FIXTURES = Path(__file__).parent / "fixtures" / "transfer"
WXR_12 = FIXTURES / "wordpress-1.2.xml"
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
    """A comment as the reader gives it: always HTML, WordPress's ``1`` unless said otherwise."""
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


FIRST_CONTENT = (
    'Endlich! Mehr dazu <a href="https://example.org/plan">im Plan</a>.\n\n'
    "Zweiter Absatz.<script>alert(1)</script>"
)

EXPECTED_12: list[Item] = [
    Thread(
        source_id="101",
        url="https://blog.example/2019/05/umbau/",
        identifier="101",
        title="Größter Umbau seit Jahren",
        closed=False,
    ),
    post(
        "201",
        "101",
        author="Jörg Bäcker",
        email="joerg@example.org",
        text=FIRST_CONTENT,
        created_at=at("2019-05-01 10:00:00"),
        ip="192.0.2.1",
    ),
    post(
        "202",
        "101",
        parent_id="201",
        author="Redaktion",
        email="redaktion@blog.example",
        text="Danke, Jörg.",
        created_at=at("2019-05-01 10:30:00"),
        ip="2001:db8::1",
    ),
    post(
        "203",
        "101",
        parent_id="202",
        author="Jörg Bäcker",
        email="joerg@example.org",
        text="Gern geschehen.",
        created_at=at("2019-05-01 11:00:00"),
        ip="192.0.2.1",
    ),
    post(
        "204",
        "101",
        author="Wartend",
        text="Noch nicht freigegeben.",
        created_at=at("2019-05-02 07:00:00"),
        status=SourceStatus.UNAPPROVED,
    ),
    post(
        "205",
        "101",
        author="Casino",
        email="win@spam.example",
        text="Jetzt gewinnen!",
        created_at=at("2019-05-02 08:00:00"),
        status=SourceStatus.SPAM,
        ip="203.0.113.66",
    ),
    post(
        "206",
        "101",
        author="Papierkorb",
        text="Weggeworfen.",
        created_at=at("2019-05-02 09:00:00"),
        status=SourceStatus.DELETED,
        ip="192.0.2.6",
    ),
    Skip("207", SkipReason.PINGBACK, "pingback"),
    Skip("208", SkipReason.PINGBACK, "trackback"),
    post(
        "209",
        "101",
        author="Aus alten Zeiten",
        email="alt@example.org",
        text="Ohne UTC-Zeit.",
        created_at=at("2008-02-03 04:05:06"),
        ip="192.0.2.9",
    ),
    post("210", "101", author="Zeitlos", text="Ganz ohne Zeit.", created_at=None),
    Thread(
        source_id="102",
        url="https://blog.example/2019/06/stadtrat/",
        identifier="102",
        title="Stadtrat vertagt sich – wieder",
        closed=True,
    ),
    post(
        "211",
        "102",
        author="Rat & Tat",
        email="rat@example.org",
        text="Wie immer.",
        created_at=at("2019-06-01 18:00:00"),
        ip="192.0.2.11",
    ),
    # 103, an attachment without comments, yields nothing; 104, a page with only a pingback,
    # yields the skip and no thread.
    Skip("212", SkipReason.PINGBACK, "pingback"),
    Thread(
        source_id="105",
        url="https://blog.example/?p=105",
        identifier="105",
        title="Verworfener Entwurf",
        closed=False,
    ),
    post(
        "213",
        "105",
        author="Mit dem Artikel weg",
        text="Schade drum.",
        created_at=at("2019-07-01 10:00:00"),
        status=SourceStatus.DELETED,
        ip="192.0.2.13",
    ),
]

EXPECTED_OLD: list[Item] = [
    Thread(
        source_id="7",
        url="http://blog.example/2011/02/bruecke/",
        identifier="7",
        title="Brücke gesperrt",
        closed=False,
    ),
    post(
        "31",
        "7",
        author="Pendlerin",
        email="pendlerin@example.org",
        text="Schon wieder <b>Umweg</b>.",
        created_at=at("2011-02-10 07:15:00"),
        ip="192.0.2.31",
    ),
    post(
        "32",
        "7",
        parent_id="31",
        author="Radler",
        email="radler@example.org",
        text="Mit dem Rad geht's.",
        created_at=at("2011-02-10 08:00:00"),
        status=SourceStatus.UNAPPROVED,
        ip="192.0.2.32",
    ),
    Skip("33", SkipReason.PINGBACK, "pingback"),
]


def read(path: Path) -> list[Item]:
    return list(wordpress.read(str(path)))


def collect(path: Path) -> tuple[list[Item], Exception | None]:
    """What the reader yielded before it stopped, and why it stopped, if it failed."""
    items: list[Item] = []
    try:
        for item in wordpress.read(str(path)):
            items.append(item)
    except Exception as error:
        return items, error
    return items, None


def test_name() -> None:
    assert wordpress.NAME == "wordpress"


def test_wxr_1_2_reads_as_threads_comments_and_skips() -> None:
    assert read(WXR_12) == EXPECTED_12


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_older_versions_read_alike(version: str) -> None:
    assert read(FIXTURES / f"wordpress-{version}.xml") == EXPECTED_OLD


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_the_same_export_in_every_namespace_reads_the_same(tmp_path: Path, version: str) -> None:
    path = tmp_path / "export.xml"
    text = WXR_12.read_text(encoding="utf-8").replace("/export/1.2/", f"/export/{version}/")
    path.write_text(text, encoding="utf-8")
    assert read(path) == EXPECTED_12


def test_an_unknown_namespace_is_not_wordpress(tmp_path: Path) -> None:
    """Elements of other namespaces cannot pass for WordPress's, whatever their names."""
    path = tmp_path / "export.xml"
    text = WXR_12.read_text(encoding="utf-8").replace(
        'xmlns:wp="http://wordpress.org/export/1.2/"', 'xmlns:wp="http://example.org/other/"'
    )
    path.write_text(text, encoding="utf-8")
    assert read(path) == []


def test_reply_chain_three_levels_deep() -> None:
    posts = {item.source_id: item for item in read(WXR_12) if isinstance(item, Post)}
    assert posts["203"].parent_id == "202"
    assert posts["202"].parent_id == "201"
    assert posts["201"].parent_id is None


def test_content_is_kept_exactly_for_the_sanitizer() -> None:
    posts = {item.source_id: item for item in read(WXR_12) if isinstance(item, Post)}
    assert posts["201"].text == FIRST_CONTENT


def test_gzipped_export_reads_the_same(tmp_path: Path) -> None:
    packed = tmp_path / "export.xml.gz"
    with open(WXR_12, "rb") as source, gzip.open(packed, "wb") as target:
        shutil.copyfileobj(source, target)
    assert read(packed) == EXPECTED_12


def test_other_comment_types_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "export.xml"
    text = WXR_12.read_text(encoding="utf-8").replace(
        "<wp:comment_type><![CDATA[]]></wp:comment_type>",
        "<wp:comment_type><![CDATA[order_note]]></wp:comment_type>",
    )
    path.write_text(text, encoding="utf-8")
    items = read(path)
    assert Skip("202", SkipReason.INVALID, "comment type 'order_note' is not a comment") in items


@pytest.mark.parametrize("name", ["billion-laughs.xml", "external-entity.xml"])
def test_entities_are_refused_before_anything_is_read(name: str) -> None:
    items, error = collect(FIXTURES / name)
    assert items == []
    assert isinstance(error, UnreadableFile)
    assert "Refused" in str(error)


def test_a_wxr_with_entities_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.xml"
    text = WXR_12.read_text(encoding="utf-8").replace(
        "<rss", '<!DOCTYPE rss [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n<rss', 1
    )
    path.write_text(text.replace("Wie immer.", "&e;"), encoding="utf-8")
    items, error = collect(path)
    assert items == []
    assert isinstance(error, UnreadableFile)


def test_another_format_is_refused_by_its_root() -> None:
    items, error = collect(FIXTURES / "disqus.xml")
    assert items == []
    assert isinstance(error, UnreadableFile)
    assert "root element is <disqus>" in str(error)


# Writing


def comment(id: int, html: str, *, parent_id: int | None = None, minute: int = 0) -> ExportComment:
    return ExportComment(
        id=id,
        parent_id=parent_id,
        author="Grete Weiß",
        email="grete@example.com",
        created_at=datetime(2024, 3, 1, 12, minute, 5, tzinfo=UTC),
        html=html,
    )


THREADS = [
    ExportThread(
        key="/politik/haushalt",
        title="Haushalt & Schulden <2024>",
        url="https://www.tageblatt.example/politik/haushalt?seite=2&x=1",
        closed=False,
        comments=[
            comment(11, "<p>Erster Kommentar.</p>"),
            comment(12, "<p>Eine Antwort mit <code>a[b[0]]>c</code>.</p>", parent_id=11),
            comment(13, "<p>Antwort auf die Antwort ]]> und ]]]]> Ende]]></p>", parent_id=12),
            comment(14, "<p>Zeile eins<br>\r\nZeile zwei</p>\n", minute=5),
        ],
    ),
    ExportThread(
        key="sport-derby",
        title=None,
        url=None,
        closed=True,
        comments=[
            ExportComment(
                id=21,
                parent_id=None,
                author="",
                email=None,
                created_at=datetime(2024, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=2))),
                html="<p>Ohne Namen.</p>",
            )
        ],
    ),
]


def written(threads: list[ExportThread], tmp_path: Path) -> Path:
    path = tmp_path / "export.xml"
    with open(path, "w", encoding="utf-8") as out:
        wordpress.write(
            out, site_name="Tageblatt", site_url="https://www.tageblatt.example", threads=threads
        )
    return path


def test_written_export_reads_back_the_same(tmp_path: Path) -> None:
    items = read(written(THREADS, tmp_path))
    expected: list[Item] = [
        Thread(
            source_id="1",
            url="https://www.tageblatt.example/politik/haushalt?seite=2&x=1",
            identifier="/politik/haushalt",
            title="Haushalt & Schulden <2024>",
            closed=False,
        ),
        *(
            post(
                str(c.id),
                "1",
                parent_id=None if c.parent_id is None else str(c.parent_id),
                author=c.author,
                email=c.email,
                text=c.html,
                created_at=c.created_at,
            )
            for c in THREADS[0].comments
        ),
        Thread(source_id="2", url=None, identifier="sport-derby", title=None, closed=True),
        post(
            "21",
            "2",
            author="",
            text="<p>Ohne Namen.</p>",
            created_at=at("2024-03-02 07:00:00"),
        ),
    ]
    assert items == expected


def test_written_export_is_wxr_1_2_for_wordpress_and_disqus(tmp_path: Path) -> None:
    text = written(THREADS, tmp_path).read_text(encoding="utf-8")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"')
    for declaration in (
        'xmlns:wp="http://wordpress.org/export/1.2/"',
        'xmlns:dsq="http://www.disqus.com/"',
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"',
        'xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"',
        'xmlns:wfw="http://wellformedweb.org/CommentAPI/"',
        'xmlns:dc="http://purl.org/dc/elements/1.1/"',
    ):
        assert declaration in text
    assert "<wp:wxr_version>1.2</wp:wxr_version>" in text
    assert "<dsq:thread_identifier>/politik/haushalt</dsq:thread_identifier>" in text
    assert "<wp:post_name>sport-derby</wp:post_name>" in text
    assert "<wp:post_date_gmt>2024-03-01 12:00:05</wp:post_date_gmt>" in text
    assert "<wp:comment_status>closed</wp:comment_status>" in text
    assert "<wp:comment_date_gmt>2024-03-02 07:00:00</wp:comment_date_gmt>" in text
    assert "<wp:comment_content><![CDATA[<p>Erster Kommentar.</p>]]></wp:comment_content>" in text
    assert "<wp:comment_type>comment</wp:comment_type>" in text
    assert text.count("<wp:comment_approved>1</wp:comment_approved>") == 5


def test_a_reply_to_a_comment_left_out_becomes_top_level(tmp_path: Path) -> None:
    """An importer would attach it to whatever comment of its own bears that number."""
    thread = ExportThread(
        key="k",
        title="T",
        url=None,
        closed=False,
        comments=[comment(5, "<p>Antwort auf einen abgelehnten Kommentar.</p>", parent_id=4)],
    )
    items = read(written([thread], tmp_path))
    assert [item.parent_id for item in items if isinstance(item, Post)] == [None]


def test_characters_xml_cannot_carry_are_dropped(tmp_path: Path) -> None:
    thread = ExportThread(
        key="k\x01",
        title="T\x0b",
        url=None,
        closed=False,
        comments=[comment(5, "<p>Steuer\x00zeichen\x1f weg\ufffe</p>")],
    )
    items = read(written([thread], tmp_path))
    assert items[0] == Thread(source_id="1", url=None, identifier="k", title="T", closed=False)
    assert isinstance(items[1], Post)
    assert items[1].text == "<p>Steuerzeichen weg</p>"


def test_naive_times_are_taken_as_utc(tmp_path: Path) -> None:
    naive = ExportComment(
        id=1,
        parent_id=None,
        author="A",
        email=None,
        created_at=datetime(2024, 3, 1, 12, 0),
        html="<p>x</p>",
    )
    thread = ExportThread(key="k", title=None, url=None, closed=False, comments=[naive])
    items = read(written([thread], tmp_path))
    assert isinstance(items[1], Post)
    assert items[1].created_at == at("2024-03-01 12:00:00")


def test_writer_streams_threads_as_they_come() -> None:
    """Each thread is written before the next is asked for, so none waits in memory."""
    out = io.StringIO()

    def threads() -> Iterator[ExportThread]:
        for thread in THREADS:
            written_before = out.tell()
            yield thread
            assert out.tell() > written_before
            assert f"<wp:post_name>{thread.key}</wp:post_name>" in out.getvalue()

    wordpress.write(out, site_name="Tageblatt", site_url=None, threads=threads())
    assert out.getvalue().endswith("</channel>\n</rss>\n")


def test_writing_no_threads_gives_an_empty_but_valid_export(tmp_path: Path) -> None:
    assert read(written([], tmp_path)) == []
