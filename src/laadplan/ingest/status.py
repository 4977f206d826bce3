"""Status observations: EVSE status over time and hourly occupancy snapshots.

Layouts (detected from the content):

* **EVSE status CSV** (``evse_uid``, ``observed_utc``, ``status``; also ``location_id``, and
  ``country_code``/``party_id`` which, when absent, are looked up in the stored EVSEs, else ``NL``/``''``)
  -> ``status_observations``. Mandatory: location_id, evse_uid, observed_utc, status.
* **OCPI JSON** (array, envelope, NDJSON): EVSE objects with ``status`` and ``last_updated`` (and
  ``location_id``/``country_code``/``party_id`` next to them, or an EVSE uid known in the store), or whole
  Location objects, whose every EVSE gives one observation at its ``last_updated``.
* **per-location hourly occupancy** (``date``, ``hour``, ``location_id``, ``n_evses``, ``occ_pct``; NDW
  snapshot layout) -> ``occupancy_observations`` with subject_level ``location``.
* **per-gemeente hourly occupancy** (``date``, ``hour``, ``gm_code``, ``evses_observed``,
  ``occupancy_pct``) -> subject_level ``gemeente``.

Occupancy: ``occupancy_share = pct / 100`` and ``evses_occupied = evses_observed x share`` (fractional
when derived from a rounded percentage). ``observed_utc`` is the local (Europe/Amsterdam, configurable)
date + hour converted to UTC: in the autumn the repeated hour 02:00 occurs twice, the first row of a
subject at that hour is the summer-time one (00:00 UTC) and the second the winter-time one (01:00 UTC);
the skipped spring hour 02:00 does not exist and is quarantined (``LP-TYPE``).

Rules: LP-MALFORMED, LP-MISSING, LP-TYPE, LP-STATUS (status not OCPI), LP-SHARE-RANGE (percentage outside
0..100 or more occupied than observed), LP-DUPLICATE (same subject and time as an earlier record with a
different value). Reloading the same file changes nothing (the key includes the time).
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from laadplan import model
from laadplan.config import RegionConfig
from laadplan.ingest import ocpi
from laadplan.ingest._csvstream import BATCH, RowRules, col, future_limit, future_message, iter_csv_batches, \
    quarantine_malformed, read_header, set_field_limit, to_float, to_utc
from laadplan.ingest._io import SourceError, open_binary, source_name
from laadplan.ingest._records import Limits, iter_json_records
from laadplan.ingest.base import IngestResult, Progress, Quarantine, log_run, utcnow
from laadplan.ingest.locations import split_duplicates
from laadplan.model.core import EVSE_STATUSES
from laadplan.store import Store, UpsertResult

log = logging.getLogger(__name__)


def detect_layout(source: str) -> str:
    with open_binary(source) as b:
        head = b.read(4096).lstrip(b" \t\r\n\xef\xbb\xbf")
    if not head:
        return "empty"
    if head[:1] in (b"{", b"["):
        return "json"
    h = set(read_header(source))
    if {"evse_uid", "status"} <= h and ({"observed_utc", "last_updated", "timestamp"} & h):
        return "evse-status"
    if {"date", "hour", "location_id"} <= h and ({"occ_pct", "occupancy_pct"} & h):
        return "occupancy-location"
    if {"date", "hour", "gm_code"} <= h and ({"occ_pct", "occupancy_pct"} & h):
        return "occupancy-gemeente"
    raise SourceError(f"{source_name(source)}: not a known status layout (EVSE status CSV: evse_uid, "
                      f"observed_utc, status; occupancy CSV: date, hour, location_id or gm_code, occ_pct); "
                      f"header: {sorted(h)[:12]}")


def ingest_status(store: Store, source: str, cfg: RegionConfig, *, progress: Progress | None = None
                  ) -> IngestResult:
    """Ingest EVSE status observations or hourly occupancy snapshots (see the module doc)."""
    name = source_name(source)
    started = utcnow()
    res = IngestResult("status", name)
    q = Quarantine(store, "status", name, res)
    layout = detect_layout(source)
    if layout == "json":
        _ingest_json(store, source, cfg, name, res, q, progress)
    elif layout == "empty":
        res.notes.append("empty source: nothing to read")
    else:
        seen_ambiguous: dict = {}
        set_field_limit(cfg.validation.max_csv_field_chars, cfg.validation.max_record_bytes)
        for b in iter_csv_batches(source):
            res.read += len(b.rows) + len(b.malformed)
            quarantine_malformed(q, name, b.malformed)
            if layout == "evse-status":
                _evse_status_batch(store, cfg, b.rows, name, res, q)
            else:
                _occupancy_batch(store, cfg, b.rows, layout.split("-")[1], name, res, q, seen_ambiguous)
            if progress is not None:
                progress(len(b.rows) + len(b.malformed))
    q.flush()
    log_run(store, res, started)
    log.info("status %s: read %d, accepted %d, quarantined %d", name, res.read, res.accepted, res.quarantined)
    return res


def ingest_status_records(store: Store, records: list, cfg: RegionConfig, name: str, *,
                          digest: str | None = None) -> IngestResult:
    """EVSE statuses that did not come from a file (the OCPI receiver's Location and EVSE pushes,
    :mod:`laadplan.api.ocpi`): ``JsonRecord`` s of OCPI EVSE objects (with ``location_id``/``country_code``/
    ``party_id`` next to them) or whole Locations, through the same record function, rules and storage as a
    status file's JSON records, as one ingest run named ``name`` (e.g. ``ocpi-push:NL*EQU``)."""
    started = utcnow()
    res = IngestResult("status", name, digest=digest)
    q = Quarantine(store, "status", name, res)
    rows: list[dict] = []
    limit = future_limit(cfg).to_pydatetime()
    for rec in records:
        res.read += 1
        _json_record(store, rec.position, rec.obj, rec.raw_text() if rec.error else None, rec.error, name, q,
                     rows, cfg=cfg, limit=limit)
    _flush_json(store, rows, name, res, q)
    q.flush()
    log_run(store, res, started)
    return res


def _store(store: Store, table: str, df: pd.DataFrame, name: str, res: IngestResult, q: Quarantine,
           what) -> None:
    """LP-DUPLICATE check, then upsert; ``df`` carries _pos and _raw."""
    cols = model.table(table).column_names
    kept, dups = split_duplicates(store, table, df.drop(columns=["_raw"]))
    for i in dups.drop_duplicates("_pos").index:  # one quarantine row per record
        q.add("LP-DUPLICATE", int(df.at[i, "_pos"]), df.at[i, "_raw"],
              f"{name} record {df.at[i, '_pos']}: {what(df.loc[i])} already has a different value at this time")
    # a record is accepted when none of its rows is a conflicting duplicate
    ok_pos = set(kept["_pos"]) - set(dups["_pos"])
    res.accepted += len(ok_pos)
    kept = kept[kept["_pos"].isin(ok_pos)]
    if len(kept):
        res.upserts.setdefault(table, UpsertResult())
        res.upserts[table] += store.upsert(table, kept.reindex(columns=cols))


def _lookup_cpo(store: Store, df: pd.DataFrame) -> pd.DataFrame:
    """(location_id, evse_uid) -> country_code, party_id from the stored EVSEs (when exactly one matches)."""
    keys = df[["location_id", "evse_uid"]].drop_duplicates()
    store.con.register("_k", keys)
    try:
        return store.query(
            "SELECT e.location_id, e.evse_uid, any_value(e.country_code) AS country_code, "
            "any_value(e.party_id) AS party_id FROM evses e JOIN _k k ON e.location_id = k.location_id "
            "AND e.evse_uid = k.evse_uid GROUP BY ALL HAVING count(*) = 1")
    finally:
        store.con.unregister("_k")


def _evse_status_batch(store: Store, cfg: RegionConfig, df: pd.DataFrame, name: str, res: IngestResult,
                       q: Quarantine) -> None:
    obs, obs_bad = to_utc(col(df, "observed_utc", "last_updated", "timestamp"))
    status = col(df, "status").astype("string").str.strip().str.upper()
    rr = RowRules(df)
    rr.flag(col(df, "location_id").isna() | col(df, "evse_uid").isna() | (col(df, "observed_utc", "last_updated",
            "timestamp").isna()) | status.isna(), "LP-MISSING",
            "mandatory field missing (location_id, evse_uid, observed_utc, status)")
    rr.flag(obs_bad, "LP-TYPE", "observed_utc is not a date-time")
    rr.flag(obs > future_limit(cfg), "LP-FUTURE", future_message(cfg, "observed_utc"))
    rr.flag(~status.isin(EVSE_STATUSES), "LP-STATUS", lambda d: "status " + status[d.index].astype(str)
            + " is not an OCPI EVSE status")
    rr.quarantine(q, name, id_col="evse_uid", party_col="party_id" if "party_id" in df.columns else None)
    d = df[~rr.bad]
    if d.empty:
        return
    out = pd.DataFrame({
        "country_code": col(d, "country_code").astype("string"), "party_id": col(d, "party_id").astype("string"),
        "location_id": d["location_id"].astype("string"), "evse_uid": d["evse_uid"].astype("string"),
        "observed_utc": obs[d.index], "status": status[d.index],
        "source": "status-csv", "source_file": name, "_pos": d["_pos"], "_raw": d["_raw"],
    }, index=d.index)
    need = out["country_code"].isna() | out["party_id"].isna()
    if need.any():
        found = _lookup_cpo(store, out[need])
        if len(found):
            m = out[need].reset_index().merge(found, on=["location_id", "evse_uid"], how="left",
                                              suffixes=("", "_e")).set_index("index")
            out.loc[m.index, "country_code"] = out.loc[m.index, "country_code"].fillna(m["country_code_e"])
            out.loc[m.index, "party_id"] = out.loc[m.index, "party_id"].fillna(m["party_id_e"])
        out["country_code"] = out["country_code"].fillna("NL")
        out["party_id"] = out["party_id"].fillna("")
    _store(store, "status_observations", out, name, res, q,
           lambda r: f"EVSE {r['evse_uid']} of location {r['location_id']}")


def local_hour_to_utc(date: pd.Series, hour: pd.Series, tz: str, second_occurrence: pd.Series
                      ) -> pd.Series:
    """Local date + hour -> naive UTC. ``second_occurrence`` marks rows that are the later (standard-time)
    instance of the repeated autumn hour; a non-existent spring hour gives NaT."""
    local = pd.to_datetime(date, errors="coerce") + pd.to_timedelta(hour, unit="h")
    ok = local.notna()
    out = pd.Series(pd.NaT, index=date.index, dtype="datetime64[us]")
    if ok.any():
        amb = (~second_occurrence[ok].astype(bool)).to_numpy()  # True = DST (first occurrence)
        loc = local[ok].dt.tz_localize(tz, ambiguous=amb, nonexistent="NaT")
        out[ok] = loc.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]")
    return out


def _occupancy_batch(store: Store, cfg: RegionConfig, df: pd.DataFrame, level: str, name: str,
                     res: IngestResult, q: Quarantine, seen_ambiguous: dict) -> None:
    subj_col = "location_id" if level == "location" else "gm_code"
    date_s = col(df, "date")
    date = pd.to_datetime(date_s, errors="coerce", format="%Y-%m-%d")
    hour, hour_bad = to_float(col(df, "hour"))
    n, n_bad = to_float(col(df, "n_evses", "evses_observed"))
    pct, pct_bad = to_float(col(df, "occ_pct", "occupancy_pct"))
    charging, ch_bad = to_float(col(df, "evses_charging"))
    subj = col(df, subj_col).astype("string")
    rr = RowRules(df)
    rr.flag(date_s.isna() | col(df, "hour").isna() | subj.isna() | col(df, "n_evses", "evses_observed").isna()
            | col(df, "occ_pct", "occupancy_pct").isna(), "LP-MISSING",
            f"mandatory field missing (date, hour, {subj_col}, EVSE count, occupancy percentage)")
    rr.flag((date_s.notna() & date.isna()) | hour_bad | n_bad | pct_bad | ch_bad, "LP-TYPE",
            "date is not YYYY-MM-DD or a number field is not a number")
    rr.flag(~hour.between(0, 23) | (hour % 1 != 0) | (n < 0) | (n % 1 != 0) | (n > 2 ** 53), "LP-TYPE",
            "hour not a whole number 0..23 or EVSE count not a whole number >= 0")
    rr.flag(~pct.between(0, 100) | (charging > n), "LP-SHARE-RANGE",
            lambda d: "occupancy " + pct[d.index].astype(str) + " % outside 0..100 or more EVSEs charging than observed")
    # DST: the repeated autumn hour comes twice per subject; the second is the standard-time one
    ok0 = ~rr.bad
    second = pd.Series(False, index=df.index)
    if ok0.any():
        local = (date[ok0] + pd.to_timedelta(hour[ok0], unit="h"))
        try:
            amb = local.dt.tz_localize(cfg.region.time_zone, ambiguous="NaT", nonexistent="NaT").isna()
        except (ValueError, TypeError):
            amb = pd.Series(False, index=local.index)
        for i in amb[amb].index:
            k = (subj[i], local[i])
            second[i] = k in seen_ambiguous
            seen_ambiguous[k] = True
    obs = local_hour_to_utc(date, hour.where(ok0), cfg.region.time_zone, second)
    rr.flag(ok0 & obs.isna(), "LP-TYPE", lambda d: "local time " + date_s[d.index].astype(str) + " "
            + hour[d.index].astype("Int64").astype(str) + ":00 does not exist (daylight saving time starts)")
    rr.quarantine(q, name, id_col=subj_col)
    d = df[~rr.bad]
    if d.empty:
        return
    share = pct[d.index] / 100.0
    out = pd.DataFrame({
        "subject_level": level, "subject_id": subj[d.index],
        "gm_code": col(d, "gm_code").astype("string"), "observed_utc": obs[d.index],
        "evses_observed": n[d.index].round().astype("Int64"), "evses_occupied": n[d.index] * share,
        "occupancy_share": share, "source": f"ndw-occupancy-{level}", "source_file": name,
        "_pos": d["_pos"], "_raw": d["_raw"],
    }, index=d.index)
    _store(store, "occupancy_observations", out, name, res, q, lambda r: f"{level} {r['subject_id']}")


def _ingest_json(store: Store, source: str, cfg: RegionConfig, name: str, res: IngestResult, q: Quarantine,
                 progress: Progress | None) -> None:
    rows: list[dict] = []
    n_batch = 0
    limit = future_limit(cfg).to_pydatetime()
    for rec in iter_json_records(source, Limits.of(cfg)):
        res.read += 1
        n_batch += 1
        _json_record(store, rec.position, rec.obj, rec.raw_text() if rec.error else None, rec.error, name, q,
                     rows, cfg=cfg, limit=limit)
        if n_batch >= BATCH:
            _flush_json(store, rows, name, res, q)
            if progress is not None:
                progress(n_batch)
            rows, n_batch = [], 0
    _flush_json(store, rows, name, res, q)
    if progress is not None:
        progress(n_batch)


def _json_record(store: Store, pos: int, obj: Any, raw: str | None, error: str | None, name: str, q: Quarantine,
                 rows: list, *, cfg: RegionConfig, limit) -> None:
    from pydantic import ValidationError

    if error is not None:
        q.add("LP-MALFORMED", pos, raw, f"{name} record {pos}: {error}")
        return
    if not isinstance(obj, dict):
        q.add("LP-TYPE", pos, obj, f"{name} record {pos}: expected an OCPI EVSE or Location object")
        return
    try:
        if "evses" in obj:
            loc = ocpi.Location221.model_validate(obj) if ocpi.location_version(obj) == "2.2.1" \
                else ocpi.Location211.model_validate(obj)
            cc = getattr(loc, "country_code", None) or "NL"
            party = getattr(loc, "party_id", None) or ""
            evses = [(cc, party, loc.id, e, e.last_updated or loc.last_updated) for e in loc.evses]
        else:
            e = ocpi.Evse.model_validate(obj)
            lid = obj.get("location_id")
            if not isinstance(lid, (str, int)) or str(lid) == "":
                found = store.query("SELECT country_code, party_id, location_id FROM evses WHERE evse_uid = ?",
                                    [e.uid])
                if len(found) != 1:
                    q.add("LP-MISSING", pos, obj, f"{name} record {pos}: EVSE {e.uid} has no location_id and "
                          f"is {'unknown' if found.empty else 'ambiguous'} in the store", record_id=e.uid)
                    return
                cc, party, lid = found.iloc[0]
            else:
                cc, party = obj.get("country_code") or "NL", obj.get("party_id") or ""
            evses = [(str(cc), str(party), str(lid), e, e.last_updated)]
    except ValidationError as err:
        code, msg = ocpi.rule_for(err)
        if code == "LP-TYPE" and any(x["loc"] and x["loc"][-1] == "status" for x in err.errors()):
            code = "LP-STATUS"
        q.add(code, pos, obj, f"{name} record {pos}: {msg}", record_id=str(obj.get("uid") or obj.get("id")))
        return
    missing = [e.uid for *_, e, t in evses if t is None]
    if missing:
        q.add("LP-MISSING", pos, obj, f"{name} record {pos}: no last_updated for EVSE(s) {missing}",
              record_id=missing[0])
        return
    ahead = [e.uid for *_, e, t in evses if t > limit]
    if ahead:
        q.add("LP-FUTURE", pos, obj, f"{name} record {pos}: EVSE(s) {ahead}: a {future_message(cfg)}",
              record_id=ahead[0])
        return
    for cc, party, lid, e, t in evses:
        rows.append({"country_code": cc, "party_id": party, "location_id": lid, "evse_uid": e.uid,
                     "observed_utc": t, "status": e.status, "source": "ocpi", "source_file": name,
                     "_pos": pos, "_raw": obj})


def _flush_json(store: Store, rows: list, name: str, res: IngestResult, q: Quarantine) -> None:
    if not rows:
        return
    df = pd.DataFrame(rows)
    df["observed_utc"] = pd.to_datetime(df["observed_utc"]).astype("datetime64[us]")
    _store(store, "status_observations", df, name, res, q, lambda r: f"EVSE {r['evse_uid']}")
