"""The residents' personal-data retention (AVG/GDPR, issue 16.4) without the web form: `laadplan requests purge
[--dry-run]` and residents.purge at the boundary of the retention period (rows just inside and outside it)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from typer.testing import CliRunner

from laadplan.cli import app
from laadplan.config import RegionConfig
from laadplan.store import Store
from laadplan.web import residents

RD = Transformer.from_crs(4326, 28992, always_xy=True)
LON, LAT = 4.0137, 52.0912


def _add(s: Store, rid: str, created: datetime, source: str = "web-form") -> None:
    """One request with personal data (address, postal code, exact point), as the web form stores it."""
    x, y = RD.transform(LON, LAT)
    s.upsert("requests", pd.DataFrame([{
        "request_id": rid, "requested_date": pd.Timestamp(created.date()), "address": f"Kerkweg {rid}",
        "postal_code": "1234AB", "lat": LAT, "lon": LON, "x_rd": x, "y_rd": y, "gm_code": "GM0001",
        "decision": "granted", "decision_rule": "REQ-NO-POINT", "source": source, "last_updated_utc": created}]))
    if source == "web-form":
        s.upsert("web_requests", pd.DataFrame([{"request_id": rid, "created_utc": created, "client_hash": "ab" * 32,
                                                "ev_status": "ev", "expected_date": None, "purged_utc": None}]))


def _state(s: Store) -> pd.DataFrame:
    r = s.query("SELECT r.request_id, r.address, r.postal_code, r.x_rd, r.y_rd, r.decision_rule, w.client_hash, "
                "w.purged_utc FROM requests r LEFT JOIN web_requests w USING (request_id)")
    return r.set_index("request_id")


def _purged(row) -> bool:
    x, y = RD.transform(LON, LAT)
    cell = (np.floor(x / 100) * 100 + 50, np.floor(y / 100) * 100 + 50)
    gone = pd.isna(row["address"]) and pd.isna(row["postal_code"]) and pd.isna(row["client_hash"])
    assert gone == ((row["x_rd"], row["y_rd"]) == pytest.approx(cell, abs=1e-6)), row
    return gone and pd.notna(row["purged_utc"])


def test_purge_at_the_boundary_of_the_retention_period():
    s = Store(":memory:")
    cfg = RegionConfig()
    cfg.server.web_request_retention_days = 30
    now = datetime(2026, 6, 1, 12, 0, 0)
    cutoff = now - timedelta(days=30)  # 2026-05-02 12:00:00
    _add(s, "OUT", cutoff - timedelta(seconds=1))  # one second older than the period: purged
    _add(s, "EDGE", cutoff)  # exactly 30 days old: still within the period
    _add(s, "IN", cutoff + timedelta(seconds=1))
    _add(s, "CSV", cutoff - timedelta(days=100), source="municipality.csv")  # not a web request
    st = residents.retention_status(s, cfg, now)
    assert (st["to_purge"], st["kept"], st["already_purged"], st["ids"]) == (1, 2, 0, ["OUT"])
    assert residents.purge(s, cfg, now, dry_run=True) == 1
    assert not any(_purged(r) for _, r in _state(s).iterrows())  # a dry run changes nothing
    assert residents.purge(s, cfg, now) == 1
    r = _state(s)
    assert _purged(r.loc["OUT"]) and not _purged(r.loc["EDGE"]) and not _purged(r.loc["IN"])
    assert r.loc["OUT", "decision_rule"] == "REQ-NO-POINT"  # the decision stays for the plan
    assert r.loc["CSV", "address"] == "Kerkweg CSV"
    assert residents.purge(s, cfg, now) == 0  # once
    assert residents.purge(s, cfg, now + timedelta(seconds=1)) == 1  # EDGE is now one second too old
    s.close()


def test_requests_purge_command_counts_dry_run_and_purges(tmp_path):
    db = tmp_path / "s.duckdb"
    conf = tmp_path / "c.toml"
    conf.write_text("[server]\nweb_request_retention_days = 30\n")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with Store(db) as s:
        _add(s, "OLD1", now - timedelta(days=30, minutes=10))
        _add(s, "OLD2", now - timedelta(days=400))
        _add(s, "NEW", now - timedelta(days=29, hours=23, minutes=50))
    run = lambda *a: CliRunner().invoke(app, ["--db", str(db), "--config", str(conf), *a])  # noqa: E731
    r = run("--json", "requests", "purge", "--dry-run")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert (out["dry_run"], out["would_purge"], out["kept"], out["already_purged"], out["retention_days"]) == \
        (True, 2, 1, 0, 30)
    with Store(db, read_only=True) as s:
        assert _state(s)["address"].notna().all()
    r = run("requests", "purge")
    assert r.exit_code == 0, r.output
    assert "2 purged" in r.stdout and "1 within the retention period" in r.stdout
    with Store(db, read_only=True) as s:
        st = _state(s)
        assert _purged(st.loc["OLD1"]) and _purged(st.loc["OLD2"]) and not _purged(st.loc["NEW"])
    out = json.loads(run("--json", "requests", "purge").stdout)
    assert (out["purged"], out["already_purged"], out["kept"]) == (0, 2, 1)
