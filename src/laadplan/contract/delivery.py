"""Data delivery KPIs (LINDA norms as contract KPIs) and smart-charging capability.

* **CDRs rejected** (one definition, by the session's own month): a quarantined CDR (kind ``cdrs`` or
  ``sessions``) belongs to the month (local time) of its own ``start_date_time`` when that can be read from
  its raw OCPI JSON and lies between 2009 and its ingestion, like an accepted CDR belongs to the month its
  session starts. ``rejected_share = rejected / (accepted + rejected)`` with ``accepted`` the sessions in
  the store starting in that month; per operator by ``party_id``; per rule each rule's count over the same
  denominator (a record breaking two rules counts once in the total and once under each rule). A rejected
  record whose start cannot be read (broken JSON, a CSV row) belongs to no month: it is counted apart as
  *undated* (:func:`undated_rejections`, by the time it was ingested), never in a month's share (counting
  it in its ingestion month made 35 rejected rows of 2018 sessions read in 2026 "100 % rejected").
* **Status data coverage** (status freshness): hours with a status over hours known, from
  :mod:`laadplan.contract.availability`. The LINDA 30-second norm applies to the live feed and cannot be
  measured from a stored change history; coverage is what the store can show.
* **Tariff freshness**: a session's tariff counts as current when its connector refers to a tariff known
  in the store whose ``last_updated_utc`` is no later than ``max_tariff_age_h`` after the session ended
  (tariff data was in place within 24 h of the session). Sessions at connectors without a known tariff
  are not current. ``tariff_current_share = current sessions / sessions``.
* **Smart charging**: ``smart_charging_share = EVSEs with CHARGING_PROFILE_CAPABLE / EVSEs``; for EVSEs
  placed since the concession start (AFIR art. 5(8): every new point) the norm is
  ``min_smart_charging_share_new``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from laadplan.contract.periods import month_of
from laadplan.contract.settings import ContractConfig


def _raw_start(raw: object) -> pd.Timestamp | None:
    if not isinstance(raw, str) or not raw.lstrip().startswith("{"):
        return None
    try:
        d = json.loads(raw)
    except ValueError:
        return None
    v = d.get("start_date_time") if isinstance(d, dict) else None
    if not isinstance(v, str):
        return None
    try:
        ts = datetime.fromisoformat(v.strip())
    except ValueError:
        return None
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
    return pd.Timestamp(ts)


def cdr_rejections(quarantine: pd.DataFrame, sessions: pd.DataFrame, months: list[str],
                   tz: str = "Europe/Amsterdam") -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(per month and party_id: accepted, rejected, rejected_share; per month and rule_code: rejected,
    rejected_share)``. party_id ``'*'`` is the region total. ``quarantine`` has kind, rule_code,
    source_file, position, party_id, raw, ingested_utc; ``sessions`` has party_id, start_utc."""
    q = quarantine[quarantine["kind"].isin(["cdrs", "sessions"])].copy()
    if not q.empty:
        start = q["raw"].map(_raw_start)
        start = pd.to_datetime(start)
        ing = pd.to_datetime(q["ingested_utc"])
        ok = start.notna() & (start >= pd.Timestamp("2009-01-01")) & (start <= ing)
        q["when"] = start.where(ok)
        q["month"] = month_of(q["when"], tz)
        q = q[q["month"].isin(months)]  # undated records (no readable start) belong to no month
    else:
        q["month"] = pd.Series(dtype="string")
    recs = q.drop_duplicates(["source_file", "position"])
    s = sessions.copy()
    s["month"] = month_of(s["start_utc"], tz) if not s.empty else pd.Series(dtype="string")
    s = s[s["month"].isin(months)]
    acc = s.groupby(["month", s["party_id"].fillna("")], dropna=False).size().rename("accepted")
    rej = recs.groupby(["month", recs["party_id"].fillna("")], dropna=False).size().rename("rejected")
    per = pd.concat([acc, rej], axis=1).fillna(0).astype(int).reset_index()
    per.columns = ["month", "party_id", "accepted", "rejected"]
    tot = per.groupby("month")[["accepted", "rejected"]].sum().reset_index()
    tot["party_id"] = "*"
    per = pd.concat([tot, per], ignore_index=True)
    per["rejected_share"] = (per["rejected"] / (per["accepted"] + per["rejected"])).where(
        per["accepted"] + per["rejected"] > 0)
    denom = tot.set_index("month")[["accepted", "rejected"]].sum(axis=1)
    by_rule = q.groupby(["month", "rule_code"]).size().rename("rejected").reset_index()
    by_rule["rejected_share"] = by_rule["rejected"] / by_rule["month"].map(denom).astype(float)
    return per.sort_values(["month", "party_id"]).reset_index(drop=True), by_rule


def undated_rejections(quarantine: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> int:
    """Rejected CDR records ingested in [start, end) whose own start cannot be read (or is not between 2009
    and their ingestion): outside every month's rejected share, reported apart."""
    q = quarantine[quarantine["kind"].isin(["cdrs", "sessions"])].drop_duplicates(["source_file", "position"])
    if q.empty:
        return 0
    st = pd.to_datetime(q["raw"].map(_raw_start))
    ing = pd.to_datetime(q["ingested_utc"])
    dated = st.notna() & (st >= pd.Timestamp("2009-01-01")) & (st <= ing)
    return int((~dated & (ing >= start) & (ing < end)).sum())


def tariff_freshness(sessions: pd.DataFrame, connectors: pd.DataFrame, tariffs: pd.DataFrame,
                     cc: ContractConfig) -> pd.DataFrame:
    """Per session (session_id, country_code, party_id, location_id, evse_uid): tariff_current (bool)."""
    key = ["country_code", "party_id", "location_id", "evse_uid", "connector_id"]
    s = sessions[["session_id", "end_utc"] + key].copy()
    c = connectors[key + ["tariff_ids"]].copy()
    c["tariff_id"] = c["tariff_ids"].astype("string").fillna("").str.split(";")
    c = c.explode("tariff_id")
    c["tariff_id"] = c["tariff_id"].astype("string").str.strip()
    c = c[c["tariff_id"] != ""]
    t = tariffs[["country_code", "party_id", "tariff_id", "last_updated_utc"]]
    ct = c.merge(t, on=["country_code", "party_id", "tariff_id"], how="inner")
    j = s.merge(ct[key + ["last_updated_utc"]], on=key, how="left")
    limit = pd.to_datetime(j["end_utc"]) + pd.Timedelta(hours=cc.max_tariff_age_h)
    j["ok"] = pd.to_datetime(j["last_updated_utc"]).le(limit).fillna(False)
    ok = j.groupby("session_id")["ok"].any()
    out = s.drop(columns=["end_utc"]).drop_duplicates("session_id").set_index("session_id")
    out["tariff_current"] = ok.reindex(out.index).fillna(False).astype(bool)
    return out.reset_index()


def first_seen(evses: pd.DataFrame, status: pd.DataFrame) -> pd.Series:
    """When each EVSE first appeared: the earlier of its first status observation and its
    ``last_updated_utc`` (index: the EVSE key)."""
    key = ["country_code", "party_id", "location_id", "evse_uid"]
    lu = evses.set_index(key)["last_updated_utc"]
    if status.empty:
        fo = pd.Series(pd.NaT, index=lu.index)
    else:
        fo = status.groupby(key)["observed_utc"].min().reindex(lu.index)
    both = pd.concat([pd.to_datetime(lu), pd.to_datetime(fo)], axis=1)
    return both.min(axis=1).rename("first_seen_utc")


def smart_charging(evses: pd.DataFrame, since: pd.Timestamp) -> pd.DataFrame:
    """Adds ``smart`` (bool, missing -> False), ``smart_known`` (the source states the capability; shares are
    taken over these, n/a when none) and ``new`` (first_seen_utc >= since) to an EVSE frame that has
    ``smart_charging_capable`` and ``first_seen_utc``."""
    e = evses.copy()
    e["smart_known"] = e["smart_charging_capable"].astype("boolean").notna().astype(bool)
    e["smart"] = e["smart_charging_capable"].astype("boolean").fillna(False).astype(bool)
    e["new"] = (pd.to_datetime(e["first_seen_utc"]) >= since).fillna(False).astype(bool)
    return e


def share(num: pd.Series, den: pd.Series) -> pd.Series:
    return (num / den).where(den > 0, np.nan)
