"""``laadplan quality``: what was quarantined, by rule, by operator and per ingest run."""

from __future__ import annotations

from enum import Enum

import typer

from laadplan.commands.common import Fmt, STATE, emit_json, fail, frame_records, print_frame


class Section(str, Enum):
    all = "all"
    rules = "rules"
    operators = "operators"
    runs = "runs"
    quarantine = "quarantine"


def quality_tables(store, section: str = "all", *, rule: str | None = None, kind: str | None = None,
                   limit: int = 20) -> dict:
    """The tables of ``laadplan quality`` (its ``--json`` object): ``rules``, ``operators``, ``runs`` and
    ``quarantine`` (those of ``section``). One function for the CLI and the read API (``/api/v1/quality``)."""
    from laadplan.kpi import quality as Q

    con = store.con
    tables = {}
    if section in ("all", "rules"):
        df = Q.by_rule(con)
        tables["rules"] = df[df["rule_code"] == rule] if rule else df
    if section in ("all", "operators"):
        tables["operators"] = Q.by_operator(con)
    if section in ("all", "runs"):
        tables["runs"] = Q.ingest_runs(con)
    if section in ("all", "quarantine"):
        tables["quarantine"] = Q.quarantine_listing(con, rule=rule, kind=kind, limit=limit)
    return tables


def register(app: typer.Typer) -> None:
    @app.command("quality")
    def quality_cmd(
        section: Section = typer.Option(Section.all, "--section", help="Which table to show"),
        rule: str = typer.Option(None, "--rule", help="Only records quarantined under this rule code"),
        kind: str = typer.Option(None, "--kind", help="Only this ingest kind (cdrs, locations, ...)"),
        limit: int = typer.Option(20, "--limit", min=0, help="Quarantined records to list"),
        fmt: Fmt = typer.Option(Fmt.table, "--format", help="Output format (csv needs one --section)"),
    ) -> None:
        """Data quality: quarantined records per rule and per operator, read/accepted/quarantined per ingest
        run, and the quarantined records themselves (with their rule, position and raw text)."""
        if fmt is Fmt.csv and section is Section.all:
            fail("--format csv prints one table: choose --section rules|operators|runs|quarantine")
        with STATE.store() as store:
            tables = quality_tables(store, section.value, rule=rule, kind=kind, limit=limit)
        if STATE.json or fmt is Fmt.json:
            emit_json({k: frame_records(v) for k, v in tables.items()})
            return
        titles = {"rules": "quarantined records per rule", "operators": "per operator (party_id)",
                  "runs": "ingest runs", "quarantine": "quarantined records" + (f" ({rule})" if rule else "")}
        for name, df in tables.items():
            print_frame(df, title=titles[name], fmt=fmt.value)
