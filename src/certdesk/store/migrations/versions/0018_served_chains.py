"""served chains stored once: ``probes.chain_pem`` (the whole served chain as PEM in
every probe) replaced by ``probes.chain_id``, a reference to a row of ``served_chains``
that holds each distinct chain once

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 06:10:00
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "served_chains",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("chain_pem", sa.Text(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256"),
    )
    connection = op.get_bind()
    # Each distinct chain once, first seen by its earliest probe; hashed here (SQLite has
    # no SHA-256), one row per distinct chain, not per probe. The instant goes back as the
    # database gave it.
    chains = connection.execute(
        sa.text(
            "SELECT chain_pem, MIN(at) FROM probes WHERE chain_pem IS NOT NULL GROUP BY chain_pem"
        )
    ).all()
    if chains:
        connection.execute(
            sa.text(
                "INSERT INTO served_chains (sha256, chain_pem, first_seen_at) "
                "VALUES (:sha256, :pem, :at)"
            ),
            [
                {"sha256": hashlib.sha256(pem.encode("ascii")).hexdigest(), "pem": pem, "at": at}
                for pem, at in chains
            ],
        )
    op.add_column("probes", sa.Column("chain_id", sa.Integer(), nullable=True))
    if connection.dialect.name == "postgresql":  # one hash join
        op.execute(
            "UPDATE probes SET chain_id = s.id FROM served_chains s "
            "WHERE probes.chain_pem IS NOT NULL AND s.chain_pem = probes.chain_pem"
        )
    else:  # SQLite has UPDATE … FROM only from 3.33; it indexes the subquery's lookup itself
        op.execute(
            "UPDATE probes SET chain_id = (SELECT s.id FROM served_chains s "
            "WHERE s.chain_pem = probes.chain_pem) WHERE chain_pem IS NOT NULL"
        )
    with op.batch_alter_table("probes", schema=None) as batch_op:
        batch_op.drop_column("chain_pem")
        batch_op.create_foreign_key("probes_chain_id_fkey", "served_chains", ["chain_id"], ["id"])


def downgrade() -> None:
    op.add_column("probes", sa.Column("chain_pem", sa.Text(), nullable=True))
    # By the primary key: a correlated subquery costs one index lookup per probe, on both.
    op.execute(
        "UPDATE probes SET chain_pem = (SELECT s.chain_pem FROM served_chains s "
        "WHERE s.id = probes.chain_id) WHERE chain_id IS NOT NULL"
    )
    with op.batch_alter_table("probes", schema=None) as batch_op:
        batch_op.drop_constraint("probes_chain_id_fkey", type_="foreignkey")
        batch_op.drop_column("chain_id")
    op.drop_table("served_chains")
