"""The migrations build, from an empty database, exactly the schema the models describe."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from helpers import forget_pg_schema, make_app
from sqlalchemy import inspect, text

from moderation.extensions import db

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations" / "versions"


def _empty(app) -> None:
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        db.session.remove()


# SQLite's reflection skips the index on lower(email) (migration 0013), so autogenerate cannot
# compare it, and both say so; the test finds it by name instead.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_migrations_from_empty_match_the_models(database_url: str, tmp_path: Path) -> None:
    app = make_app(database_url, tmp_path)
    forget_pg_schema()
    _empty(app)
    try:
        with app.app_context():
            upgrade()
            with db.engine.connect() as connection:
                diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
            assert diff == []
            indexes = {i["name"] for i in inspect(db.engine).get_indexes("comment")}
            assert {"ix_comment_article_status_id", "ix_comment_status_created"} <= indexes
            if db.engine.dialect.name == "sqlite":
                listed = text("SELECT name FROM sqlite_master WHERE tbl_name = 'comment'")
                indexes = set(db.session.scalars(listed))
                db.session.remove()
            assert "ix_comment_email_lower" in indexes
            if db.engine.dialect.name == "postgresql":  # as submission._NEXT_COMMENT_ID names it
                sequence = text("SELECT pg_get_serial_sequence('comment', 'id')")
                assert db.session.scalar(sequence) == "public.comment_id_seq"
                db.session.remove()
            downgrade(revision="base")
            assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    finally:
        _empty(app)
        with app.app_context():
            db.engine.dispose()


def test_flask_db_is_flask_migrates_own(database_url: str, tmp_path: Path) -> None:
    app = make_app(database_url, tmp_path)
    forget_pg_schema()
    _empty(app)
    runner = app.test_cli_runner()
    try:
        upgraded = runner.invoke(args=["db", "upgrade"])
        assert upgraded.exit_code == 0, upgraded.output
        with app.app_context():
            version = db.session.scalar(text("SELECT version_num FROM alembic_version"))
            db.session.remove()
        assert version == sorted(MIGRATIONS.glob("0*.py"))[-1].name[:4]
        helped = runner.invoke(args=["db", "--help"])
        assert "--directory" in helped.output and "upgrade" in helped.output
    finally:
        _empty(app)
        with app.app_context():
            db.engine.dispose()


def test_the_web_app_does_not_import_the_migration_tools(tmp_path: Path) -> None:
    """Alembic, Mako and Pygments cost every gunicorn worker about 11 MB; only ``flask db``
    needs them (moderation/cli/migrations.py)."""
    listed = (
        "import sys, wsgi; print([m for m in ('alembic', 'flask_migrate') if m in sys.modules])"
    )
    env = {
        **os.environ,
        "MODERATION_SECRET_KEY": "test-secret-key",
        "MODERATION_INSTANCE_PATH": str(tmp_path),
    }
    ran = subprocess.run(
        [sys.executable, "-c", listed],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stdout.strip() == "[]", ran.stdout + ran.stderr
