"""Names in three languages: a plan's name in zh_Hant_HK, zh_Hans_CN and en, and the
language each subscriber reads (their SMS go out in it).

The plans made before this revision had one name; the default plans get their three names
here, any other plan keeps its one name in all three columns until the operator writes the
others. Subscribers registered before it read Traditional Chinese, the default, until they
switch language on the site.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

LOCALES = ("zh_Hant_HK", "zh_Hans_CN", "en")
NAME_COLUMNS = ("name_zh_hant_hk", "name_zh_hans_cn", "name_en")
DEFAULT_PLAN_NAMES = {
    "HK-KEEP": ("香港保號月租 HK$8", "香港保号月租 HK$8", "Hong Kong number keeper, HK$8 a month"),
    "CN-KEEP": ("內地保號月租 ¥8", "内地保号月租 ¥8", "Mainland number keeper, ¥8 a month"),
    "HK-VALID": ("香港有效期卡", "香港有效期卡", "Hong Kong validity plan"),
    "CN-VALID": ("內地有效期卡", "内地有效期卡", "Mainland validity plan"),
}

plans = sa.table(
    "sim_plans",
    sa.column("code", sa.String),
    sa.column("name", sa.String),
    *(sa.column(name, sa.String) for name in NAME_COLUMNS),
)


def upgrade() -> None:
    with op.batch_alter_table("sim_plans") as batch:
        for name in NAME_COLUMNS:
            batch.add_column(sa.Column(name, sa.String(100)))
    op.execute(plans.update().values(dict.fromkeys(NAME_COLUMNS, plans.c.name)))
    for code, names in DEFAULT_PLAN_NAMES.items():
        op.execute(
            plans.update()
            .where(plans.c.code == code)
            .values(dict(zip(NAME_COLUMNS, names, strict=True)))
        )
    with op.batch_alter_table("sim_plans") as batch:
        for name in NAME_COLUMNS:
            batch.alter_column(name, existing_type=sa.String(100), nullable=False)
        batch.drop_column("name")
    op.add_column(
        "subscribers",
        sa.Column(
            "language",
            sa.String(10),
            sa.CheckConstraint(
                f"language IN ({', '.join(repr(code) for code in LOCALES)})",
                name="ck_subscribers_language",
            ),
            nullable=False,
            server_default="zh_Hant_HK",
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_constraint("ck_subscribers_language", type_="check")
        batch.drop_column("language")
    with op.batch_alter_table("sim_plans") as batch:
        batch.add_column(sa.Column("name", sa.String(100)))
    op.execute(plans.update().values(name=plans.c.name_zh_hant_hk))
    with op.batch_alter_table("sim_plans") as batch:
        batch.alter_column("name", existing_type=sa.String(100), nullable=False)
        for name in NAME_COLUMNS:
            batch.drop_column(name)
