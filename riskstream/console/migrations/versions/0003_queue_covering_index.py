"""The queue's risk order as a covering index: its filters are read off the index.

``ix_cases_queue_risk_desc`` (0002) gave the order; this one also carries what the queue filters on
(outcome, opening time, order count, cluster size), so a filtered page by risk reads index entries until
it has its rows and touches the table only for them, however rare the matches.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_cases_queue_risk_desc", "cases")
    op.create_index("ix_cases_queue_risk_cover", "cases",
                    ["status", sa.text("risk DESC"), "id", "outcome", "opened_at", "orders_count", "size"])


def downgrade() -> None:
    op.drop_index("ix_cases_queue_risk_cover", "cases")
    op.create_index("ix_cases_queue_risk_desc", "cases", ["status", sa.text("risk DESC"), "id"])
