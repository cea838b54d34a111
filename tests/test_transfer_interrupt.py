"""Ctrl-C in the middle of an import, as an operator presses it: the real CLI in a process of
its own gets SIGINT, leaves whole batches and a consistent database, and the same command
again finishes the job without doubling anything (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from moderation.extensions import db
from moderation.models import Article, Comment, CommentStatus, ImportRun
from moderation.transfer.importer import BATCH

THREADS = 20
POSTS = 12_000


def answers(n: int) -> int | None:
    """The post that post ``n`` answers: the thread's next for every tenth, its previous for
    every other fifth; chains, never loops."""
    if n % 10 == 0:
        return n + THREADS if n + THREADS < POSTS else None
    if n % 5 == 0 and n >= THREADS:
        return n - THREADS
    return None


def write_disqus(path: Path) -> None:
    """A Disqus export of :data:`POSTS` posts over :data:`THREADS` threads; every fifth post
    answers the thread's one before it, and every tenth the thread's next one (a parent later
    in the file), which may answer its own next one (a reply deeper than ours)."""
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n')
        out.write('<disqus xmlns="http://disqus.com" ')
        out.write('xmlns:dsq="http://disqus.com/disqus-internals">\n')
        for t in range(THREADS):
            out.write(
                f'<thread dsq:id="t{t}"><id>a-{t}</id>'
                f"<link>https://news.example/artikel/{t}</link><title>Artikel {t}</title>"
                "<isClosed>false</isClosed><isDeleted>false</isDeleted></thread>\n"
            )
        for n in range(POSTS):
            thread = n % THREADS
            parent = ""
            if answers(n) is not None:
                parent = f'<parent dsq:id="{answers(n)}"/>'
            out.write(
                f'<post dsq:id="{n}"><message><![CDATA[<p>Kommentar {n}</p>]]></message>'
                f"<createdAt>2019-05-01T10:00:00Z</createdAt>"
                f"<isDeleted>false</isDeleted><isSpam>false</isSpam>"
                f"<author><name>Leser {n % 97}</name></author>"
                f'<thread dsq:id="t{thread}"/>{parent}</post>\n'
            )
        out.write("</disqus>\n")


def count(app: Flask, *where: object) -> int:
    with app.app_context():
        number = db.session.scalar(select(func.count()).select_from(Comment).where(*where))
        db.session.remove()
    return int(number or 0)


def test_ctrl_c_keeps_whole_batches_and_a_rerun_finishes(
    app: Flask, database_url: str, tmp_path: Path
) -> None:
    export = tmp_path / "disqus.xml"
    write_disqus(export)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
    env.update(
        {
            "MODERATION_DATABASE_URL": database_url,
            "MODERATION_INSTANCE_PATH": str(tmp_path / "cli-instance"),
            "MODERATION_SECRET_KEY": "test-secret-key",
            "PYTHONUNBUFFERED": "1",
        }
    )
    command = [
        str(Path(sys.executable).with_name("flask")),
        "--app",
        "wsgi",
        "import",
        "disqus",
        str(export),
        "--site",
        "demo",
    ]
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 120
        while count(app) < BATCH and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert process.poll() is None, "the import ended before it could be interrupted"
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0].decode()
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, output
    assert "Interrupted" in output and "Traceback" not in output

    written = count(app)
    assert 0 < written < POSTS and written % BATCH == 0  # whole batches only
    with app.app_context():
        approved = db.session.scalar(select(func.sum(Article.approved_count)))
        run = db.session.scalars(select(ImportRun)).one()
        assert run.finished_at is None
        assert run.counts["imported"] == {"approved": written}
        db.session.remove()
    assert approved == count(app, Comment.status == CommentStatus.APPROVED) == written

    again = subprocess.run(command, cwd=root, env=env, capture_output=True, timeout=600)
    assert again.returncode == 0, again.stdout.decode() + again.stderr.decode()
    assert f"duplicate {written:,}" in again.stdout.decode()
    assert count(app) == POSTS
    with app.app_context():
        approved = db.session.scalar(select(func.sum(Article.approved_count)))
        assert approved == POSTS
        # every answer, including those whose parent came later in the file, is linked
        replies = db.session.scalar(
            select(func.count()).select_from(Comment).where(Comment.parent_id.is_not(None))
        )
        assert replies == sum(1 for n in range(POSTS) if answers(n) is not None)
        parent = Comment.__table__.alias("parent")
        deeper = db.session.scalar(
            select(func.count())
            .select_from(Comment)
            .join(parent, parent.c.id == Comment.parent_id)
            .where(parent.c.parent_id.is_not(None))
        )
        assert deeper == 0
        runs = db.session.scalars(select(ImportRun).order_by(ImportRun.id)).all()
        assert runs[-1].finished_at is not None
        db.session.remove()
