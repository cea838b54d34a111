"""Moving in: imported comments keep their origin, and imports are recorded.

* ``comment.source``, ``comment.source_id``, ``comment.source_parent_id`` with an index on
  (source_id, source): an import run twice adds nothing.
* An index on ``comment.parent_id``: deleting a comment sets its replies' parent to NULL,
  which without it reads the whole table.
* ``import_run``: who imported what from which file into which site, and the report.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 12:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("comment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("source_id", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("source_parent_id", sa.String(length=120), nullable=True))
        batch_op.create_index("ix_comment_source_id", ["source_id", "source"], unique=False)
        batch_op.create_index("ix_comment_parent", ["parent_id"], unique=False)
    op.create_table(
        "import_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("file_name", sa.String(length=300), nullable=False),
        sa.Column("actor_name", sa.String(length=80), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_import_run_site", "import_run", ["site_id", "id"], unique=False)


def downgrade():
    op.drop_index("ix_import_run_site", table_name="import_run")
    op.drop_table("import_run")
    with op.batch_alter_table("comment", schema=None) as batch_op:
        batch_op.drop_index("ix_comment_parent")
        batch_op.drop_index("ix_comment_source_id")
        batch_op.drop_column("source_parent_id")
        batch_op.drop_column("source_id")
        batch_op.drop_column("source")
