"""``laadplan ocpi``: registrations of operators at the OCPI receiver (token A, the parties)."""

from __future__ import annotations

import sys

import pandas as pd
import typer

from laadplan.commands.common import STATE, emit_json, fail, print_frame


def register(app: typer.Typer) -> None:
    ocpi = typer.Typer(help="OCPI receiver: open an operator's registration (token A), list the parties.",
                       no_args_is_help=True)
    app.add_typer(ocpi, name="ocpi")

    @ocpi.command("register")
    def ocpi_register(
        country_code: str = typer.Option(..., help="OCPI country_code of the operator (e.g. NL)"),
        party_id: str = typer.Option(..., help="OCPI party_id of the operator (e.g. EQU)"),
        days: int = typer.Option(30, help="Days token A stays valid"),
    ) -> None:
        """Make token A for an operator: valid only for the versions and credentials endpoints, until the
        operator POSTs its credentials (token B) and gets token C. Shown once."""
        from laadplan.api.ocpi.credentials import open_registration

        cfg = STATE.config()
        with STATE.store(create=True) as s:
            try:
                token, row = open_registration(s, country_code, party_id, days=days)
            except ValueError as e:
                fail(str(e))
        url = f"{cfg.server.public_url.rstrip('/')}/ocpi/versions"
        if STATE.json:
            emit_json({"token_a": token, "token_id": row["token_id"], "versions_url": url,
                       "expires_utc": row["expires_utc"].isoformat()})
        else:
            typer.echo(token)
            print(f"token A of {country_code.upper()}*{party_id.upper()} (id {row['token_id']}), valid until "
                  f"{row['expires_utc']:%Y-%m-%d} UTC, shown only now; give it with the versions URL {url}",
                  file=sys.stderr)

    @ocpi.command("parties")
    def ocpi_parties() -> None:
        """The operators known to the receiver and where their registration stands."""
        with STATE.store(read_only=True) as s:
            df = (s.query("SELECT country_code, party_id, status, role, business_name, version, versions_url, "
                          "registered_utc, unregistered_utc FROM ocpi_parties ORDER BY 1, 2")
                  if s.has_table("ocpi_parties") else pd.DataFrame())
        if STATE.json:
            emit_json(df.to_dict(orient="records"))
        else:
            print_frame(df, title="OCPI parties")
