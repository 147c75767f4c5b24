"""The case store: cases, orders, revisions, notes, verdicts, users and the audit chain.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.String(120), primary_key=True),
        sa.Column("cluster_id", sa.String(120)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("outcome", sa.Integer, nullable=False),
        sa.Column("risk", sa.Float, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("orders_count", sa.Integer, nullable=False),
        sa.Column("rules", sa.Text, nullable=False),
        sa.Column("opened_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("first_event", sa.String(40), nullable=False),
        sa.Column("last_event", sa.String(40), nullable=False),
        sa.Column("assignee", sa.String(80)),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("label", sa.Integer),
        sa.Column("verdict_action", sa.String(20)),
        sa.Column("verdict_at", TZ),
        sa.Column("cluster", sa.JSON),
    )
    op.create_index("ix_cases_queue_risk", "cases", ["status", "risk", "id"])
    op.create_index("ix_cases_queue_age", "cases", ["status", "opened_at", "id"])
    op.create_table(
        "orders",
        sa.Column("order_id", sa.String(120), primary_key=True),
        sa.Column("case_id", sa.String(120), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("account_id", sa.String(120), nullable=False),
        sa.Column("action", sa.Integer, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("ruleset_version", sa.String(120), nullable=False),
        sa.Column("model_version", sa.String(120)),
        sa.Column("model_score", sa.Float),
        sa.Column("event_time", sa.String(40), nullable=False),
        sa.Column("decided_at", sa.String(40), nullable=False),
        sa.Column("cluster", sa.JSON),
    )
    op.create_index("ix_orders_case_id", "orders", ["case_id"])
    op.create_index("ix_orders_account_id", "orders", ["account_id"])
    op.create_table(
        "revisions",
        sa.Column("order_id", sa.String(120), primary_key=True),
        sa.Column("revision", sa.Integer, primary_key=True),
        sa.Column("action", sa.Integer, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("decided_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(120), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("author", sa.String(80), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_notes_case_id", "notes", ["case_id"])
    op.create_table(
        "verdicts",
        sa.Column("verdict_id", sa.String(120), primary_key=True),
        sa.Column("case_id", sa.String(120), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("reviewer", sa.String(80), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("record", sa.JSON, nullable=False),
    )
    op.create_index("ix_verdicts_case_id", "verdicts", ["case_id"])
    op.create_table(
        "users",
        sa.Column("username", sa.String(80), primary_key=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    for table in ("audit", "users", "verdicts", "notes", "revisions", "orders", "cases"):
        op.drop_table(table)
