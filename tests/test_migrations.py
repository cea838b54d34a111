"""The migrations build, from an empty database, exactly the schema the models describe."""

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from helpers import forget_pg_schema, make_app
from sqlalchemy import inspect, text

from moderation.extensions import db


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
