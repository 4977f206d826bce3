"""``laadplan serve`` (the regional server) and ``laadplan token`` (its users' tokens)."""

from __future__ import annotations

import os
import sys

import pandas as pd
import typer

from laadplan.commands.common import STATE, console, emit_json, fail, print_frame


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_cmd(
        host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 to serve a network)"),
        port: int = typer.Option(8000, help="TCP port"),
        workers: int = typer.Option(1, min=1, help="Worker processes (PostgreSQL store only; a DuckDB file "
                                                    "is held by one process)"),
        graceful_s: float = typer.Option(30.0, "--graceful-s", help="On SIGTERM/SIGINT: seconds to finish the "
                                                                   "requests in flight before stopping"),
    ) -> None:
        """Run the regional server: the OCPI receiver, the read API (/api/v1, docs at /api/docs) and the web app."""
        import uvicorn

        from laadplan.store import Store, StoreError

        db = STATE.db
        is_url = "://" in db
        if workers > 1 and not is_url:
            fail(f"--workers {workers}: a DuckDB store ({db}) is held by one process; use --workers 1 or a "
                 f"PostgreSQL store (--db postgresql://...)")
        try:  # fail here with one line, not in a worker
            Store(db, create=True).close()
        except StoreError as e:
            fail(str(e))
        STATE.config()  # a bad config is an error before listening
        os.environ["LAADPLAN_DB"] = db
        if STATE.config_path:
            os.environ["LAADPLAN_CONFIG"] = STATE.config_path
        log_config = {
            "version": 1, "disable_existing_loggers": False,
            "formatters": {"plain": {"format": "%(message)s"}, "std": {"format": "%(levelname)s %(name)s: %(message)s"}},
            "handlers": {"access": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stdout"},
                         "std": {"class": "logging.StreamHandler", "formatter": "std", "stream": "ext://sys.stderr"}},
            "loggers": {"laadplan.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
                        "laadplan": {"handlers": ["std"], "level": "INFO", "propagate": False},
                        "uvicorn.error": {"handlers": ["std"], "level": "INFO", "propagate": False}},
        }
        print(f"laadplan serve: store {db}, http://{host}:{port}/ (API docs /api/docs)", file=sys.stderr)
        from laadplan.api.http import PROTOCOL

        uvicorn.run("laadplan.api.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                    access_log=False, log_config=log_config, timeout_graceful_shutdown=graceful_s,
                    proxy_headers=False, http=PROTOCOL)

    token = typer.Typer(help="API tokens of the server's users (roles region, gemeente, operator, netbeheerder).",
                        no_args_is_help=True)
    app.add_typer(token, name="token")

    @token.command("create")
    def token_create(
        role: str = typer.Option(..., help="region, gemeente, operator or netbeheerder"),
        gm: str = typer.Option(None, "--gm", help="Municipality of a gemeente token (CBS code, e.g. GM0599)"),
        country_code: str = typer.Option(None, help="OCPI country_code of an operator token (e.g. NL)"),
        party_id: str = typer.Option(None, help="OCPI party_id of an operator token (e.g. EQU)"),
        label: str = typer.Option(None, help="Who or what the token is for"),
        days: int = typer.Option(None, help="Days until it expires [default: server.token_days_default]"),
    ) -> None:
        """Make a token. It is shown once; only its hash is stored."""
        from laadplan.api.auth import TokenError, create_token

        cfg = STATE.config()
        with STATE.store(create=True) as s:
            try:
                secret, row = create_token(s, role, gm_code=gm, country_code=country_code, party_id=party_id,
                                           label=label, days=days or cfg.server.token_days_default)
            except TokenError as e:
                fail(str(e))
        if STATE.json:
            emit_json({"token": secret, "token_id": row["token_id"], "role": row["role"],
                       "expires_utc": row["expires_utc"].isoformat()})
        else:
            typer.echo(secret)
            print(f"token {row['token_id']} ({role}) valid until {row['expires_utc']:%Y-%m-%d %H:%M} UTC; "
                  f"it is shown only now", file=sys.stderr)

    @token.command("list")
    def token_list() -> None:
        """List the tokens (never their secrets)."""
        from laadplan.api.auth import list_tokens

        with STATE.store(read_only=True) as s:
            df = list_tokens(s) if s.has_table("api_tokens") else pd.DataFrame()
        if STATE.json:
            emit_json(df.to_dict(orient="records"))
        else:
            print_frame(df, title="API tokens")

    @token.command("revoke")
    def token_revoke(token_id: str = typer.Argument(..., help="The token's id (or the whole token)")) -> None:
        """Revoke a token: it stops working at once in new server processes, within seconds in running ones."""
        from laadplan.api.auth import revoke_token

        with STATE.store() as s:
            if not revoke_token(s, token_id):
                fail(f"no valid token {token_id}; see `laadplan token list`")
        console.print(f"revoked {token_id}")
