"""The queue's sale and amount filters: each case's flash sale and total amount, the sales seen.

Decision records name the order's ``sale`` and ``amount`` (and ``currency``) since this change; orders
keep them, and a case carries its orders' sale (that of its latest order by event time when they were
in more than one) and the total of their amounts. Both join the queue's covering index by risk (0003),
so a page filtered by them by risk is still read off one index; ``ix_cases_queue_sale`` serves the
sale filter by age. ``sales`` lists the sales seen, for the filter's choices.

The migration cannot fill them in: the store keeps no copy of the order events, and the decision records
stored before this change carried neither field, so existing orders and cases start with NULL (they match
no sale and no amount bound). A later revision of one of their orders carries both, and ingesting it fills
the order and its case; ``riskstream cases backfill HISTORY`` fills the rest from the order history
(``riskstream.console.backfill``).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("sale", sa.String(120)))
        batch.add_column(sa.Column("amount", sa.Float))
        batch.add_column(sa.Column("currency", sa.String(12)))
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("sale", sa.String(120)))
        batch.add_column(sa.Column("amount", sa.Float))
    op.create_table(
        "sales",
        sa.Column("id", sa.String(120), primary_key=True),
        sa.Column("first_seen", sa.DateTime(timezone=True)),
    )
    op.drop_index("ix_cases_queue_risk_cover", "cases")
    op.create_index("ix_cases_queue_risk_cover", "cases",
                    ["status", sa.text("risk DESC"), "id", "outcome", "opened_at", "orders_count", "size", "sale",
                     "amount"])
    op.create_index("ix_cases_queue_sale", "cases", ["status", "sale", "opened_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_cases_queue_sale", "cases")
    op.drop_index("ix_cases_queue_risk_cover", "cases")
    op.create_index("ix_cases_queue_risk_cover", "cases",
                    ["status", sa.text("risk DESC"), "id", "outcome", "opened_at", "orders_count", "size"])
    op.drop_table("sales")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("amount")
        batch.drop_column("sale")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("currency")
        batch.drop_column("amount")
        batch.drop_column("sale")
