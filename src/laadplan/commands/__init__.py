"""CLI command groups. Each module exposes ``register(app)``; :mod:`laadplan.cli` wires them up.

Order here is the order in ``laadplan --help``.
"""

MODULES = [
    "laadplan.commands.ingest",
    "laadplan.commands.quality",
    "laadplan.commands.kpi",
    "laadplan.commands.placement",
    "laadplan.commands.forecast",
    "laadplan.commands.logistics",
    "laadplan.commands.contract",
    "laadplan.commands.demo",
    "laadplan.commands.serve",
    "laadplan.commands.ocpi",
    "laadplan.commands.admin",
    "laadplan.commands.db",
]
