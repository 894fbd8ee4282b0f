"""Prescriptions: each patient's current one and every saved version.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "prescriptions",
        sa.Column(
            "patient_id", sa.String(32), sa.ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("therapist_id", sa.String(32), sa.ForeignKey("therapists.id"), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_table(
        "prescription_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "patient_id",
            sa.String(32),
            sa.ForeignKey("patients.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("therapist_id", sa.String(32), sa.ForeignKey("therapists.id"), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("changes", sa.String(2000), nullable=False),
        sa.UniqueConstraint("patient_id", "version", name="uq_prescription_versions_patient"),
    )


def downgrade() -> None:
    op.drop_table("prescription_versions")
    op.drop_table("prescriptions")
