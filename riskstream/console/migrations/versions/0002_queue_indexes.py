"""The queue at 100,000 open cases: a rule index (case_rules) and the risk order as an index.

``case_rules`` holds one row per (case, rule that fired in it), so the queue's rule filter is an index
look-up instead of a ``LIKE`` over every open case's rule list; ``ix_cases_queue_risk_desc`` is the
queue's own order (risk descending, then id), so the first page by risk is read off the index without a
sort of the ties.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_rules",
        sa.Column("rule", sa.String(120), primary_key=True),
        sa.Column("case_id", sa.String(120), sa.ForeignKey("cases.id"), primary_key=True),
    )
    cases = sa.table("cases", sa.column("id", sa.String), sa.column("rules", sa.Text))
    connection = op.get_bind()
    rows = [{"rule": rule, "case_id": case_id} for case_id, rules in connection.execute(sa.select(cases.c.id, cases.c.rules))
            for rule in sorted(set(filter(None, (rules or "").split(","))))]
    if rows:
        op.bulk_insert(sa.table("case_rules", sa.column("rule", sa.String), sa.column("case_id", sa.String)), rows)
    op.create_index("ix_cases_queue_risk_desc", "cases", ["status", sa.text("risk DESC"), "id"])


def downgrade() -> None:
    op.drop_index("ix_cases_queue_risk_desc", "cases")
    op.drop_table("case_rules")
