"""OCPI Sessions (charging sessions in progress, pushed by the operator) -> ``ocpi_sessions``.

The receiver (:mod:`laadplan.api.ocpi`) hands over Session objects (2.2.1, or 2.1.1 when the party uses
that version); each is validated here with the rules of the CDR reader that apply to a session in progress,
under the same codes: ``LP-MALFORMED`` (not JSON), ``LP-TYPE`` / ``LP-MISSING`` (OCPI's mandatory Session
fields, :class:`laadplan.ingest.ocpi.Session221` / ``Session211``), ``LINDA-ENERGY-NEG`` (kwh < 0),
``LP-FUTURE`` (last_updated beyond ``validation.last_updated_future_h``), ``LINDA-FUTURE`` (start or end in
the future), ``LINDA-BEFORE-2009`` and ``LINDA-START-END`` (end not after start). The newest
``last_updated`` of a session wins (an older update changes nothing); the same version with other content is
``LP-DUPLICATE``. The session id is ``CC*PARTY*id`` as for CDRs (``sessions.session_id``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable

import pandas as pd
from pydantic import ValidationError

from laadplan.config import RegionConfig
from laadplan.ingest import ocpi
from laadplan.ingest._csvstream import future_limit, future_message
from laadplan.ingest._records import JsonRecord
from laadplan.ingest._tabular import quarantine_duplicates
from laadplan.ingest.base import IngestResult, Quarantine, log_run, utcnow
from laadplan.ingest.locations import split_duplicates
from laadplan.store import Store, UpsertResult


def session_id(cc: str, party: str, sid: str) -> str:
    """``CC*PARTY*id`` with ``\\`` and ``*`` escaped in each part (as the CDR reader's ``lp_idpart``)."""
    def part(v: str) -> str:
        return v.replace("\\", "\\\\").replace("*", "\\*")
    return f"{part(cc)}*{part(party)}*{part(sid)}"


def ingest_session_records(store: Store, records: Iterable[JsonRecord], cfg: RegionConfig, name: str, *,
                           party: tuple[str, str] | None = None, digest: str | None = None) -> IngestResult:
    """Validate and store OCPI Session objects as one ingest run named ``name``; ``party`` is the pushing
    party (2.1.1 Sessions do not carry country_code/party_id)."""
    started = utcnow()
    res = IngestResult("sessions", name, digest=digest)
    q = Quarantine(store, "sessions", name, res)
    limit = future_limit(cfg).to_pydatetime()
    now = started + timedelta(minutes=5)  # clock skew between the operator and us
    rows: list[dict] = []
    for rec in records:
        res.read += 1
        pos, obj = rec.position, rec.obj
        if rec.error is not None:
            q.add("LP-MALFORMED", pos, rec.raw_text(), f"{name} record {pos}: {rec.error}")
            continue
        if not isinstance(obj, dict):
            q.add("LP-TYPE", pos, obj, f"{name} record {pos}: a Session is a JSON object")
            continue
        v211 = "start_datetime" in obj and "start_date_time" not in obj
        rid = str(obj.get("id")) if isinstance(obj.get("id"), (str, int)) else None
        try:
            s = (ocpi.Session211 if v211 else ocpi.Session221).model_validate(obj)
        except ValidationError as e:
            code, msg = ocpi.rule_for(e)
            q.add(code, pos, obj, f"{name} record {pos} (Session {rid}): {msg}", record_id=rid,
                  party_id=party[1] if party else None)
            continue
        if isinstance(s, ocpi.Session221):
            cc, pid, start, end = s.country_code.upper(), s.party_id.upper(), s.start_date_time, s.end_date_time
            loc, evse, conn = s.location_id, s.evse_uid, s.connector_id
            user = s.cdr_token.contract_id
            cost = s.total_cost.excl_vat if s.total_cost is not None else None
            version = "2.2.1"
        else:
            cc, pid = party if party else ("", "")
            start, end = s.start_datetime, s.end_datetime
            e0 = s.location.evses[0]
            loc, evse = s.location.id, e0.uid
            conn = e0.connectors[0].id if e0.connectors else None
            user, cost, version = s.auth_id, s.total_cost, "2.1.1"
        problem = _rule(s.kwh, start, end, s.last_updated, limit, now, cfg)
        if problem:
            code, msg = problem
            q.add(code, pos, obj, f"{name} record {pos} (Session {s.id}): {msg}", record_id=s.id, party_id=pid)
            continue
        rows.append({"session_id": session_id(cc, pid, s.id), "country_code": cc, "party_id": pid,
                     "location_id": loc, "evse_uid": evse, "connector_id": conn, "start_utc": start,
                     "end_utc": end, "energy_kwh": s.kwh, "status": s.status, "auth_method": s.auth_method,
                     "user_id": user, "total_cost_eur": cost, "currency": s.currency.upper(),
                     "source": f"ocpi-{version}", "source_file": name, "last_updated_utc": s.last_updated,
                     "_pos": pos, "_raw": obj})
    if rows:
        df = pd.DataFrame(rows)
        for c in ("start_utc", "end_utc", "last_updated_utc"):
            df[c] = pd.to_datetime(df[c]).astype("datetime64[us]")
        kept, dups = split_duplicates(store, "ocpi_sessions", df.drop(columns=["_raw"]))
        quarantine_duplicates(q, df, dups, name, "session", "session_id", with_party=True, verb="received")
        res.accepted += len(kept)
        if len(kept):
            res.upserts["ocpi_sessions"] = store.upsert("ocpi_sessions", kept.drop(columns=["_pos"]))
        else:
            res.upserts["ocpi_sessions"] = UpsertResult()
    q.flush()
    log_run(store, res, started)
    return res


def _rule(kwh: float, start: datetime, end: datetime | None, last_updated: datetime, limit: datetime,
          now: datetime, cfg: RegionConfig) -> tuple[str, str] | None:
    """The first CDR rule a session breaks (code, message), in the CDR reader's order; None when none."""
    if kwh < 0:
        return "LINDA-ENERGY-NEG", f"kwh {kwh} < 0"
    if start > now or (end is not None and end > now):
        return "LINDA-FUTURE", f"start {start} or end {end} lies in the future"
    if last_updated > limit:
        return "LP-FUTURE", future_message(cfg)
    if start.year < 2009 or (end is not None and end.year < 2009):
        return "LINDA-BEFORE-2009", f"start {start} or end {end} before 2009"
    if end is not None and start >= end:
        return "LINDA-START-END", f"start {start} is not before end {end}"
    return None


__all__ = ["ingest_session_records", "session_id"]
