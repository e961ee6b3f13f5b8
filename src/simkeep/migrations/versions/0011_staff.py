"""Staff accounts, their second factor and sessions, and the audit log.

``staff_members`` holds each member of staff apart from subscribers: username, display
name, role (data, checked by ``staff.model.may``), argon2id password hash, TOTP secret with
the time its enrolment was confirmed and the last time step accepted (a code is accepted
once: ``UPDATE … WHERE totp_last_step < :step``), a disabled flag, and the failed-login
window (attempts taken before each check, by one conditional update). ``staff_sessions``
keeps SHA-256 digests of session tokens; a session that has not passed the second factor yet
may only enrol it. ``staff_audit`` is append-only — triggers refuse every UPDATE and DELETE
on both databases — and holds who did what to which target, before and after as JSON, when
and from where.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)

PG_APPEND_ONLY = """
CREATE FUNCTION staff_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'staff_audit is append-only' USING ERRCODE = 'restrict_violation';
END $$
"""


def upgrade() -> None:
    op.create_table(
        "staff_members",
        sa.Column("id", ID, primary_key=True),
        sa.Column("username", sa.String(32), nullable=False, unique=True),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("totp_secret", sa.String(64), nullable=False),
        sa.Column("totp_confirmed_at", TS),
        sa.Column("totp_last_step", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("failed_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("attempts_window_ends_at", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_login_at", TS),
        sa.CheckConstraint("failed_attempts >= 0", name="ck_staff_members_attempts"),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("token_digest", sa.String(64), primary_key=True),
        sa.Column("staff_id", sa.BigInteger, sa.ForeignKey("staff_members.id"), nullable=False),
        sa.Column("second_factor", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("ended_at", TS),
    )
    op.create_index("ix_staff_sessions_staff", "staff_sessions", ["staff_id"])
    op.create_table(
        "staff_audit",
        sa.Column("id", ID, primary_key=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("staff_id", sa.BigInteger, sa.ForeignKey("staff_members.id")),
        sa.Column("origin", sa.String(64), nullable=False),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("target_type", sa.String(32), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("before", sa.JSON),
        sa.Column("after", sa.JSON),
    )
    op.create_index("ix_staff_audit_staff", "staff_audit", ["staff_id", "id"])
    op.create_index("ix_staff_audit_action", "staff_audit", ["action", "id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_APPEND_ONLY)
        op.execute(
            "CREATE TRIGGER staff_audit_append_only BEFORE UPDATE OR DELETE ON staff_audit "
            "FOR EACH ROW EXECUTE FUNCTION staff_audit_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER staff_audit_no_{action.lower()} BEFORE {action} ON staff_audit "
                "BEGIN SELECT RAISE(ABORT, 'staff_audit is append-only'); END"
            )


def downgrade() -> None:
    op.drop_index("ix_staff_audit_action", table_name="staff_audit")
    op.drop_index("ix_staff_audit_staff", table_name="staff_audit")
    op.drop_table("staff_audit")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION staff_audit_append_only()")
    op.drop_index("ix_staff_sessions_staff", table_name="staff_sessions")
    op.drop_table("staff_sessions")
    op.drop_table("staff_members")
