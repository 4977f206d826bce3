"""Commands about laadplan itself: the config, the data model and the validation rules."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer

from laadplan import model
from laadplan.commands.common import STATE, console, print_frame
from laadplan.config import to_toml


def register(app: typer.Typer) -> None:
    @app.command("config")
    def config_cmd(write: Path = typer.Option(None, help="Write the effective config to this TOML file")) -> None:
        """Print the effective region configuration as documented TOML."""
        text = to_toml(STATE.config())
        if write:
            write.write_text(text, encoding="utf-8")
            console.print(f"wrote {write}")
        else:
            typer.echo(text)

    @app.command("schema")
    def schema_cmd(write: Path = typer.Option(None, help="Write the Markdown to this file")) -> None:
        """Print the data model (tables, columns, units, constraints) and its two backends as Markdown."""
        from laadplan.store import schema_markdown

        text = schema_markdown()
        if write:
            write.write_text(text, encoding="utf-8")
            console.print(f"wrote {write}")
        else:
            typer.echo(text)

    @app.command("rules")
    def rules_cmd() -> None:
        """List the validation rules with their codes."""
        from laadplan.ingest import load_all_rules
        from laadplan.ingest import rules as R

        load_all_rules()  # every reader registers the rules it adds
        df = pd.DataFrame([{"rule_code": r.code, "source": r.source, "action": r.action,
                            "applies_to": ", ".join(r.kinds), "description": r.description}
                           for r in sorted(R.RULES.values(), key=lambda r: (r.source != "LINDA", r.code))])
        print_frame(df, title="validation rules")
