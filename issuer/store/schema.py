"""Every table, on the one `Base.metadata`: the token path's (`models.py`) and each
concept's own module, imported here together. What needs the whole schema starts
here: Alembic's comparison of the models with the migrations (migrations/env.py, the
migration tests), anything that creates or inspects every table. The running issuer
imports a table module when it first needs it, never this one."""

from __future__ import annotations

from issuer.store import (
    audit_tables,
    console_tables,
    federation_tables,
    replay_tables,
    revocation_tables,
    throttle_tables,
)
from issuer.store.models import Base

TABLE_MODULES = (audit_tables, console_tables, federation_tables, replay_tables,
                 revocation_tables, throttle_tables)
metadata = Base.metadata

__all__ = ["TABLE_MODULES", "Base", "metadata"]
