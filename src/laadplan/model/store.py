"""The store's own bookkeeping: which schema migrations have been applied (both backends)."""

from __future__ import annotations

from . import Column as C
from . import Table, register

SCHEMA_VERSION = Table(
    "schema_version",
    "Schema migrations applied to this store, one row each, in order (src/laadplan/store/migrations). A store "
    "whose highest version is above what the running laadplan knows is refused; `laadplan db upgrade` applies "
    "the missing ones.",
    (
        C("version", "int", "migration number (0001_... is 1)", nullable=False, minimum=1),
        C("name", "str", "migration file name", nullable=False),
        C("applied_utc", "timestamp", "when it was applied (UTC)"),
    ),
    primary_key=("version",),
    family="store",
)

register(SCHEMA_VERSION)
