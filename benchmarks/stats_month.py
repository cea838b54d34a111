"""Print what the statistics of a busy month cost, against reading that month's rows at all.

Run: ``.venv/bin/python benchmarks/stats_month.py [--comments 100000] [--database-url URL]``
(default: a fresh SQLite file in a temporary folder). It seeds a month of comments, five in
six decided by three moderators, then times :func:`moderation.stats.compute` for that month
and, as the baseline of the same run, a plain read of the month's comments and events (the
least of three runs each, so other work on the machine counts as little as possible).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select

from moderation import create_app, stats
from moderation.extensions import db
from moderation.models import Article, Comment, CommentStatus, ModerationEvent
from moderation.sites import create_site

A, R, S, P = (
    CommentStatus.APPROVED,
    CommentStatus.REJECTED,
    CommentStatus.SPAM,
    CommentStatus.PENDING,
)


def least_seconds(work: Callable[[], object], runs: int = 3) -> float:
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        took.append(time.perf_counter() - started)
    return min(took)


def seed(count: int) -> None:
    site = create_site("bench", "Bench", ["https://news.example"], "de")
    article = Article(site_id=site.id, key="busy")
    db.session.add(article)
    db.session.commit()
    start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 31, tzinfo=UTC)
    comments = [
        {
            "id": n + 1,
            "article_id": article.id,
            "author": "Leser",
            "body_raw": "x",
            "body_html": "x",
            "policy_version": 0,
            "status": [A, A, A, R, S, P][n % 6],
            "reasons": ["links"] if n % 10 == 0 else [],
            "notify": False,
            "created_at": start + (end - start) * n / count,
        }
        for n in range(count)
    ]
    db.session.execute(insert(Comment), comments)
    db.session.execute(
        insert(ModerationEvent),
        [
            {
                "comment_id": c["id"],
                "actor_name": ("anna", "bob", "carl")[c["id"] % 3],
                "from_status": P,
                "to_status": c["status"],
                "created_at": c["created_at"] + (end - start) / 720 * (c["id"] % 7),
            }
            for c in comments
            if c["status"] != P
        ],
    )
    db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comments", type=int, default=100_000)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'stats.sqlite3'}"
        app = create_app({"INSTANCE_PATH": Path(folder) / "instance", "DATABASE_URL": url})
        with app.app_context():
            db.drop_all()
            db.create_all()
            seed(args.comments)
            period = stats.parse_period("2026-10")

            def read_rows() -> None:
                db.session.execute(select(Comment.created_at, Comment.status)).all()
                db.session.execute(
                    select(ModerationEvent.created_at, ModerationEvent.actor_name)
                ).all()

            baseline = least_seconds(read_rows)
            computed = least_seconds(lambda: stats.compute(period))
            print(f"{db.engine.dialect.name}, a month of {args.comments:,} comments:")
            print(f"  reading its rows (baseline)  {baseline * 1000:8.0f} ms")
            print(
                f"  the statistics               {computed * 1000:8.0f} ms"
                f"   {computed / baseline:.1f}x the baseline"
            )
            db.drop_all()


if __name__ == "__main__":
    main()
