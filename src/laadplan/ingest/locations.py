"""Charge locations: OCPI 2.1.1 / 2.2.1 Locations (with EVSEs and connectors) and the NDW flat CSVs.

Accepted layouts (detected from the content, not the file name):

* OCPI Locations as a JSON array, an OCPI response envelope ``{"data": [...]}``, NDJSON or one object,
  optionally gzip, from a path or URL. Version per object (:func:`laadplan.ingest.ocpi.location_version`).
* the NDW flat **locations** CSV (header with ``location_id``, ``lat``, ``lon``): one row per location;
  mandatory: location_id, lat, lon. ``n_evses`` is taken from the file (the only EVSE count of its
  ``point_only`` rows).
* the NDW flat **connectors** CSV (header with ``location_id``, ``evse_uid``, ``connector_id``): one row per
  connector; fills ``evses`` and ``connectors``.

Keys. A location is ``(country_code, party_id, location_id)``. The flat CSVs have no party_id: it is
parsed from the EVSE ids (``NL*ABC*E123`` -> ``ABC``; the most frequent one per location) when the
connectors are known, else ``''``. Both CSVs stay consistent whatever the loading order: the locations
CSV looks the party up in the EVSEs already loaded, and loading the connectors CSV re-keys locations
still stored with party ``''`` (see :func:`_rekey_ndw_locations`). The connectors of one location are
expected on consecutive rows (as NDW writes them; a batch boundary never splits them); rows of a location
scattered over the file get their party decided per batch.

Streaming and idempotence. Records are processed in batches of 20,000; every table is upserted with
its ``last_updated`` as version (newer wins, an identical reload changes nothing). For OCPI the location
is the unit: when a newer version of a location wins, its EVSE and connector rows are replaced by the
new ones (an EVSE dropped from the location disappears with it).

Validation (first rule broken quarantines the record, with its position and raw text):

``LP-MALFORMED`` broken JSON line / CSV row with the wrong field count; ``LP-TYPE`` a field of the wrong
type (not an object, not a number, not a date); ``LP-MISSING`` a mandatory field (see ocpi.py for the
lists per version); ``LP-STATUS`` an EVSE status outside OCPI (the location is rejected, as an OCPI
receiver rejects the object); ``LP-COORDS-NL`` coordinates outside the configured Netherlands bounding
box (the message says when swapping latitude and longitude would put it inside); ``LP-DUPLICATE`` the
same key as an earlier record (in the file or the store) with the same ``last_updated`` but different
content. Two versions with different ``last_updated`` are not a problem: the older is replaced.
LP-DUPLICATE also sets aside, after each file, the older copies of an EVSE published under more than one
location and the locations left with none of their own EVSEs (:func:`set_aside_republished`), and NDW rows
without EVSE detail that repeat another's operator, name, coordinates and count (:func:`_point_only_copies`).

LINDA format rules (accepted with a note: LINDA warns, the record is kept and the run's notes count it
under the code, with an example): ``LINDA-EVSE-ID`` an EVSE whose ``evse_id`` is missing or not in
eMI3/IDACS form (``NL*ABC*E123``, separators ``*`` optional); ``LINDA-OPERATOR`` a location without
operator; ``LINDA-POSTAL-CODE`` a Dutch (country_code NL) postal code that is not 4 digits and 2 letters.
Valid postal codes are stored in LINDA's form ``1234 AB`` (upper case, one space: ``3011ad`` becomes
``3011 AD``); an invalid one is kept as delivered.

Connector power (``LP-POWER``) never rejects a location: power is ``max_electric_power`` when plausible,
else derived ``phases x V_phase x A`` (``power_derived``; phases 3 for AC_3_PHASE, 2 for AC_2_PHASE*,
1 otherwise; a 3-phase voltage above 300 V is a line voltage, ``V_phase = V / sqrt(3)``, the NDW quirk
of 400 V), else null. Each connector left without power is counted in the run's notes under LP-POWER.
A location-level ``max_power_kw`` (NDW locations CSV) above ``connector_max_power_kw``, or above
``connector_max_ac_power_kw`` at a location without DC, is a watt figure or an error: it is left empty
(:func:`location_power_plausible`), counted under LP-POWER and logged with the location ids.

Area codes: x/y in RD New and the CBS 500 m cell always; gm/wk/bu codes by point-in-polygon against
the areas in the store (for the NDW CSV without gemeente polygons loaded, its own ``gm_code`` column).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from typing import Any, Iterable

import numpy as np
import pandas as pd
from pydantic import ValidationError

from laadplan import geo, model
from laadplan.config import RegionConfig
from laadplan.ingest import ocpi
from laadplan.ingest import rules as R
from laadplan.ingest._csvstream import (BATCH, RowRules, col, future_limit, future_message, iter_csv_batches,
                                        quarantine_malformed, read_header, set_field_limit, to_bool, to_float,
                                        to_utc)
from laadplan.ingest._io import SourceError, open_binary, source_name
from laadplan.ingest._records import JsonRecord, Limits, iter_json_records
from laadplan.ingest.base import IngestResult, Progress, Quarantine, log_run, utcnow
from laadplan.model.core import EVSE_STATUSES, PARKING_TYPES, POWER_TYPES
from laadplan.store import Store, UpsertResult, complete

log = logging.getLogger(__name__)

LOC_KEY = ["country_code", "party_id", "location_id"]
EVSE_KEY = LOC_KEY + ["evse_uid"]
CONN_KEY = EVSE_KEY + ["connector_id"]
#: columns derived here, not content of the record (left out of the LP-DUPLICATE comparison)
_DERIVED = {"gm_code", "wk_code", "bu_code", "cell500_code", "x_rd", "y_rd", "source", "source_file", "run_id"}


# ---------------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------------
def ingest_locations(store: Store, source: str, cfg: RegionConfig, *, progress: Progress | None = None
                     ) -> IngestResult:
    """Ingest one source of charge locations (OCPI JSON/NDJSON or NDW flat CSV); see the module doc."""
    name = source_name(source)
    started = utcnow()
    res = IngestResult("locations", name)
    q = Quarantine(store, "locations", name, res)
    layout = detect_layout(source)
    ctx = _Ctx(store, cfg, name, res, q, progress, _AreaIndex.load(store))
    if layout == "json":
        _ingest_ocpi(ctx, iter_json_records(source, Limits.of(cfg)))
        set_aside_republished(ctx, source, layout)
    elif layout == "ndw-locations":
        _ingest_ndw_locations(ctx, source)
        set_aside_republished(ctx, source, layout)
        sync_count_evses(ctx)
    elif layout == "ndw-connectors":
        _ingest_ndw_connectors(ctx, source)
        set_aside_republished(ctx, source, layout)
        sync_count_evses(ctx)
    elif layout == "empty":
        res.notes.append("empty source: nothing to read")
    return _finish(ctx, started)


def ingest_location_records(store: Store, records: list[JsonRecord], cfg: RegionConfig, name: str, *,
                            party: tuple[str, str] | None = None, digest: str | None = None,
                            areas: "_AreaIndex | None" = None) -> IngestResult:
    """OCPI Location objects that did not come from a file (the OCPI receiver's pushes, :mod:`laadplan.api.ocpi`):
    the same validation, storage and quarantine as a file's records, recorded as one ingest run named ``name``
    (e.g. ``ocpi-push:NL*EQU``; ``digest`` names its content). ``party`` (country_code, party_id) is the
    pushing party, used for OCPI 2.1.1 Locations, which do not carry it."""
    started = utcnow()
    res = IngestResult("locations", name, digest=digest)
    q = Quarantine(store, "locations", name, res)
    ctx = _Ctx(store, cfg, name, res, q, None, areas if areas is not None else _AreaIndex.load(store))
    ctx.party = party
    _ingest_ocpi(ctx, records)
    set_aside_republished(ctx, name, "json", raws={r.position: r.obj for r in records})
    return _finish(ctx, started)


def _finish(ctx: "_Ctx", started) -> IngestResult:
    store, res, q, name = ctx.store, ctx.res, ctx.q, ctx.name
    q.flush()
    from laadplan.contract.realisation import stamp_evses  # placed = commissioned after the feed's first load

    stamp_evses(store, started)
    if ctx.power_problems:
        res.notes.append(f"LP-POWER: {sum(ctx.power_problems.values()):,} connectors with a power problem ("
                         + "; ".join(f"{k}: {v:,}" for k, v in ctx.power_problems.most_common()) + ")")
    if ctx.fixed:
        res.notes.append("adjusted: " + "; ".join(f"{k}: {v:,}" for k, v in ctx.fixed.most_common()))
    for code, n in sorted(ctx.linda.items()):
        res.notes.append(f"{code}: {n:,} accepted with a note ({R.get(code).description}; e.g. "
                         f"{ctx.linda_example.get(code)!r})")
    log_run(store, res, started)
    log.info("locations %s: read %d, accepted %d, quarantined %d", name, res.read, res.accepted, res.quarantined)
    return res


def detect_layout(source: str) -> str:
    """'json' (any OCPI container), 'ndw-locations', 'ndw-connectors' or 'empty'."""
    with open_binary(source) as b:
        head = b.read(4096)
    text = head.lstrip(b" \t\r\n\xef\xbb\xbf")
    if not text:
        return "empty"
    if text[:1] in (b"{", b"["):
        return "json"
    header = set(read_header(source))
    if {"location_id", "evse_uid", "connector_id"} <= header:
        return "ndw-connectors"
    if {"location_id", "lat", "lon"} <= header:
        return "ndw-locations"
    raise SourceError(f"{source_name(source)}: not OCPI JSON and not a known CSV layout (a locations CSV needs "
                      f"location_id, lat, lon; a connectors CSV location_id, evse_uid, connector_id); "
                      f"header: {sorted(header)[:12]}")


class _Ctx:
    def __init__(self, store: Store, cfg: RegionConfig, name: str, res: IngestResult, q: Quarantine,
                 progress: Progress | None, areas: "_AreaIndex"):
        self.store, self.cfg, self.name, self.res, self.q = store, cfg, name, res, q
        self.progress, self.areas = progress, areas
        self.power_problems: Counter = Counter()
        self.fixed: Counter = Counter()
        self.rekey: list[pd.DataFrame] = []  # location keys seen in an NDW connectors file
        self.linda: Counter = Counter()  # LINDA note-level rule -> records accepted with that note
        self.linda_example: dict[str, str] = {}
        self.future_limit = future_limit(cfg).to_pydatetime()
        self.seen: list[pd.DataFrame] = []  # accepted records of this run: keys and _pos (set_aside_republished)
        #: keys of the EVSEs / connectors written under a new location version in this run (OCPI records)
        self.children: dict[str, pd.DataFrame] = {}
        self.party: tuple[str, str] | None = None  # the pushing OCPI party (2.1.1 Locations lack theirs)

    def advance(self, n: int) -> None:
        if self.progress is not None and n:
            self.progress(n)

    def add_upsert(self, table: str, u: UpsertResult) -> None:
        self.res.upserts.setdefault(table, UpsertResult())
        self.res.upserts[table] += u


# ---------------------------------------------------------------------------------------------------
# shared helpers: coordinates, power, areas, duplicates
# ---------------------------------------------------------------------------------------------------
def outside_nl(lat: pd.Series, lon: pd.Series, cfg: RegionConfig) -> pd.Series:
    """True where (lat, lon) lies outside the configured Netherlands bounding box (NaN is not 'outside')."""
    v = cfg.validation
    lat = pd.to_numeric(lat, errors="coerce").astype("float64")
    lon = pd.to_numeric(lon, errors="coerce").astype("float64")
    inside = lat.between(v.bbox_lat_min, v.bbox_lat_max) & lon.between(v.bbox_lon_min, v.bbox_lon_max)
    return ~inside & lat.notna() & lon.notna()


def outside_nl_scalar(lat: float, lon: float, cfg: RegionConfig) -> bool:
    """:func:`outside_nl` for one point (no pandas overhead per record)."""
    v = cfg.validation
    return not (v.bbox_lat_min <= lat <= v.bbox_lat_max and v.bbox_lon_min <= lon <= v.bbox_lon_max)


def coords_message(lat: float, lon: float, cfg: RegionConfig) -> str:
    swapped = not outside_nl_scalar(lon, lat, cfg)
    return (f"coordinates ({lat}, {lon}) outside the Netherlands bounding box"
            + ("; latitude and longitude look swapped" if swapped else ""))


#: eMI3 / IDACS EVSE id: country (2 letters), optional '*', operator (3 alphanumerics), optional '*', 'E',
#: power outlet id (alphanumerics and '*', up to 30)
EVSE_ID_RE = r"^[A-Za-z]{2}\*?[A-Za-z0-9]{3}\*?[Ee][A-Za-z0-9*]{1,30}$"
_PC_RE = r"^\s*([1-9][0-9]{3})\s*([A-Za-z]{2})\s*$"


def normal_postal_code(pc: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(postal codes in LINDA's form '1234 AB' where valid, else as given; True where present but invalid)."""
    s = pc.astype("string")
    m = s.str.extract(_PC_RE)
    ok = m[0].notna()
    out = s.where(~ok, m[0] + " " + m[1].str.upper())
    bad = s.notna() & (s.str.strip() != "") & ~ok
    return out, bad.fillna(False).astype(bool)


def bad_evse_id(evse_id: pd.Series) -> pd.Series:
    """True where an evse_id is missing or not in eMI3/IDACS form (LINDA-EVSE-ID)."""
    s = evse_id.astype("string").str.strip()
    return (~s.str.match(EVSE_ID_RE)).fillna(True).astype(bool)


def _linda_notes(ctx: "_Ctx", L: pd.DataFrame | None, E: pd.DataFrame | None) -> None:
    """LINDA note-level checks on frames about to be stored: postal codes normalised in place (NL only),
    each breach counted per rule with an example (the records are accepted)."""
    def note(code: str, mask: pd.Series, values: pd.Series) -> None:
        n = int(mask.sum())
        if n:
            ctx.linda[code] += n
            ctx.linda_example.setdefault(code, str(values[mask].iloc[0]))

    if L is not None and len(L):
        nl = (L["country_code"].astype("string") == "NL").fillna(False)
        pc, bad = normal_postal_code(L["postal_code"])
        L["postal_code"] = pc.where(nl, L["postal_code"].astype("string"))
        note("LINDA-POSTAL-CODE", bad & nl, L["postal_code"])
        op = L["operator"].astype("string").str.strip()
        note("LINDA-OPERATOR", (op.isna() | (op == "")).fillna(True).astype(bool), L["location_id"])
    if E is not None and len(E):
        note("LINDA-EVSE-ID", bad_evse_id(E["evse_id"]),
             E["evse_id"].astype("string").fillna("(missing) EVSE " + E["evse_uid"].astype("string")))


def connector_power(power_type: pd.Series, volts: pd.Series, amps: pd.Series, reported_w: pd.Series,
                    cfg: RegionConfig) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(power_kw, power_derived, problem) per connector.

    ``P = max_electric_power / 1000`` when reported and plausible, else the derived
    ``P = n_phases * V_phase * I / 1000`` with n_phases 3 for AC_3_PHASE, 2 for AC_2_PHASE(_SPLIT), 1 for
    AC_1_PHASE and DC; for AC_3_PHASE a voltage above 300 V is the line voltage and ``V_phase = V / sqrt 3``
    (so 400 V x 16 A gives 3 x 230.9 x 16 = 11.09 kW, not the 19.2 kW of a naive 3 x 400 x 16).
    Plausible: ``0 < P <= connector_max_power_kw`` and, for AC, ``P <= connector_max_ac_power_kw``.
    ``problem`` names why a connector is left without power (None when it has one).
    """
    v = cfg.validation
    pt = power_type.astype("string")
    volts = pd.to_numeric(volts, errors="coerce").astype("float64")
    amps = pd.to_numeric(amps, errors="coerce").astype("float64")
    rep = pd.to_numeric(reported_w, errors="coerce").astype("float64") / 1000.0
    three = (pt == "AC_3_PHASE").fillna(False).to_numpy()
    two = pt.isin(["AC_2_PHASE", "AC_2_PHASE_SPLIT"]).fillna(False).to_numpy()
    phases = np.where(three, 3.0, np.where(two, 2.0, 1.0))
    v_phase = np.where(three & (volts.to_numpy() > 300), volts.to_numpy() / np.sqrt(3.0), volts.to_numpy())
    derived = pd.Series(phases * v_phase * amps.to_numpy() / 1000.0, index=power_type.index)
    is_ac = pt.str.startswith("AC").fillna(False)

    def plausible(p: pd.Series) -> pd.Series:
        return ((p > 0) & (p <= v.connector_max_power_kw) & (~is_ac | (p <= v.connector_max_ac_power_kw))).fillna(False)

    ok_rep, ok_der = plausible(rep), plausible(derived)
    power = rep.where(ok_rep, derived.where(ok_der))
    is_derived = (~ok_rep & ok_der).astype("boolean")
    problem = pd.Series(None, index=power_type.index, dtype="object")
    rep_bad = rep.notna() & (rep > 0) & ~ok_rep
    problem[rep_bad & ok_der] = "reported power implausible, derived from V x A"
    none = ~ok_rep & ~ok_der
    problem[none & (derived.isna() | (derived <= 0))] = "power missing and not derivable from V x A"
    problem[none & derived.notna() & (derived > 0)] = "power implausible (reported and V x A)"
    return power.astype("float64"), is_derived, problem


def location_power_plausible(max_power_kw: pd.Series, has_dc: pd.Series | None, cfg: RegionConfig) -> pd.Series:
    """LP-POWER for a location-level power (the NDW flat CSV's ``max_power_kw``, the freight layer's
    ``maxPowerKw``): plausible when missing or ``<= connector_max_power_kw``, and for a location known to
    have no DC also ``<= connector_max_ac_power_kw``. A higher value cannot be one charge point's power;
    it is mostly a watt figure (7360 = 7.36 kW, 32 A single-phase) and is left empty (n/a), never used."""
    v = cfg.validation
    p = pd.to_numeric(max_power_kw, errors="coerce").astype("float64")
    ac_only = pd.Series(False, index=p.index) if has_dc is None else \
        (pd.Series(has_dc, index=p.index).astype("boolean") == False).fillna(False)  # noqa: E712
    bad = (p > v.connector_max_power_kw) | (ac_only & (p > v.connector_max_ac_power_kw))
    return ~bad.fillna(False).astype(bool)


class _AreaIndex:
    """The polygons in the store per level, for point-in-polygon assignment."""

    LEVELS = (("gemeente", "gm_code"), ("wijk", "wk_code"), ("buurt", "bu_code"))

    def __init__(self, frames: dict[str, pd.DataFrame]):
        self.frames = frames

    @classmethod
    def load(cls, store: Store, levels: tuple[str, ...] = ("gemeente", "wijk", "buurt")) -> "_AreaIndex":
        frames = {}
        for lvl in levels:
            df = store.frame("areas", "level = ? AND geometry_wkb IS NOT NULL", [lvl],
                             columns=["area_code", "geometry_wkb"])
            if len(df):
                df["geometry_wkb"] = [bytes(b) for b in df["geometry_wkb"]]  # DuckDB BLOB -> bytearray
                frames[lvl] = df.sort_values("area_code").reset_index(drop=True)
        return cls(frames)

    def has(self, level: str) -> bool:
        return level in self.frames

    def assign(self, df: pd.DataFrame) -> pd.DataFrame:
        """Set x_rd, y_rd, cell500_code always and gm/wk/bu codes for the levels loaded."""
        lat = df["lat"].astype("float64").to_numpy()
        lon = df["lon"].astype("float64").to_numpy()
        x, y = geo.to_rd(lon, lat)
        df["x_rd"], df["y_rd"] = x, y
        df["cell500_code"] = geo.cell_code(x, y).to_numpy()
        for lvl, c in self.LEVELS:
            if lvl in self.frames:
                df[c] = geo.assign_area(lon, lat, self.frames[lvl]).to_numpy()
        return df


def reassign_location_areas(store: Store) -> int:
    """(Re)compute gm/wk/bu codes of every stored location from the areas now in the store. Returns the
    number of locations whose codes changed."""
    areas = _AreaIndex.load(store)
    if not areas.frames:
        return 0
    locs = store.frame("locations", "lat IS NOT NULL AND lon IS NOT NULL",
                       columns=LOC_KEY + ["lat", "lon", "gm_code", "wk_code", "bu_code"])
    if locs.empty:
        return 0
    new = areas.assign(locs[LOC_KEY + ["lat", "lon"]].copy())
    cols = [c for lvl, c in _AreaIndex.LEVELS if areas.has(lvl)]
    changed = np.zeros(len(locs), dtype=bool)
    for c in cols:
        a, b = locs[c].astype("string"), new[c].astype("string")
        changed |= ~((a == b).fillna(False) | (a.isna() & b.isna())).to_numpy()
    upd = new.loc[changed, LOC_KEY + cols]
    if upd.empty:
        return 0
    store.con.register("_reassign", upd)
    try:
        sets = ", ".join(f'"{c}" = r."{c}"' for c in cols)
        match = " AND ".join(f'l."{k}" = r."{k}"' for k in LOC_KEY)
        store.con.execute(f'UPDATE locations l SET {sets} FROM _reassign r WHERE {match}')
    finally:
        store.con.unregister("_reassign")
    return int(changed.sum())


def _content(df: pd.DataFrame, table: str, only: set[str] | None = None) -> pd.Series:
    """A text fingerprint of a row's content (every column but key, version and derived ones; with ``only``
    just those of them: the columns a reader fills, not ones a later analysis writes)."""
    t = model.table(table)
    cols = [c.name for c in t.columns if c.name not in t.primary_key and c.name != t.version_column
            and c.name not in _DERIVED and (only is None or c.name in only)]
    parts = []
    for c in cols:
        typ = model.PANDAS_TYPES[t.column(c).type]
        s = df[c] if c in df.columns else pd.Series(pd.NA, index=df.index)
        if t.column(c).type == "blob":  # geometry WKB: compare a digest, not the bytes as text
            s = s.map(lambda b: None if b is None or (isinstance(b, float) and np.isnan(b))
                      else hashlib.sha1(bytes(b)).hexdigest())
        elif typ == "float64":
            s = pd.to_numeric(s, errors="coerce").astype("float64").round(6)
        elif typ == "boolean":
            s = s.astype("boolean")
        s = s.astype("string").fillna("\u2205")
        parts.append(s)
    if not parts:
        return pd.Series("", index=df.index, dtype="string")
    out = parts[0]
    for p in parts[1:]:
        out = out + "\x1f" + p
    return out


def _version_text(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s).astype("string").fillna("\u2205")


def _keytext(df: pd.DataFrame, key: list[str]) -> pd.Series:
    out = df[key[0]].astype("string").fillna("")
    for k in key[1:]:
        out = out + "\x1f" + df[k].astype("string").fillna("")
    return out


def split_duplicates(store: Store, table: str, df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of ``df`` that break LP-DUPLICATE (same key and same version as an earlier row in ``df`` or a
    stored row from the same source format, but different content) and the rest. Returns (kept, duplicates).

    A stored row from another format (the NDW CSV against OCPI JSON of the same location) is not compared:
    those formats carry different fields, so "different content" would be an artefact; the store keeps
    the first version when the versions are equal."""
    if df.empty:
        return df, df.iloc[0:0]
    t = model.table(table)
    key = list(t.primary_key)
    fp = _content(df, table, set(df.columns))
    ver = (_version_text(df[t.version_column]) if t.version_column
           else pd.Series("", index=df.index, dtype="string"))
    kv = _keytext(df, key) + "\x1e" + ver
    # within the batch: the first content of each key+version is the reference
    first_fp = fp.groupby(kv).transform("first")
    dup = fp != first_fp
    # against the store
    keys = df.loc[~dup, key].drop_duplicates()
    complete(store.con)  # DuckDB 2: finish a pending execute() result before register()
    store.con.register("_dupkeys", keys)
    try:
        match = " AND ".join(f't."{k}" = k."{k}"' for k in key)
        stored = store.query(f'SELECT t.* FROM "{t.name}" t JOIN _dupkeys k ON {match}')
    finally:
        store.con.unregister("_dupkeys")
    if len(stored) and "source" in df.columns:
        # only a stored row of the same source format is comparable (another format has other fields)
        same = stored["source"].astype("string").isin(df["source"].astype("string").unique())
        stored = stored[same.fillna(False).to_numpy()]
    if len(stored) and table == "locations":
        # a store written before postal codes were normalised: compare in LINDA's form, not as a new content
        nl = (stored["country_code"].astype("string") == "NL").fillna(False)
        stored["postal_code"] = normal_postal_code(stored["postal_code"])[0].where(
            nl, stored["postal_code"].astype("string"))
    if len(stored):
        skv = _keytext(stored, key) + "\x1e" + (_version_text(stored[t.version_column]) if t.version_column
                                                 else "")
        sfp = pd.Series(_content(stored, table, set(df.columns)).to_numpy(), index=skv.to_numpy())
        sfp = sfp[~sfp.index.duplicated()]
        ref = kv.map(sfp)
        dup |= ref.notna() & (ref != fp)
    dup = dup.fillna(False).astype(bool)
    return df[~dup], df[dup]


# ---------------------------------------------------------------------------------------------------
# OCPI JSON
# ---------------------------------------------------------------------------------------------------
def _ingest_ocpi(ctx: _Ctx, records: Iterable[JsonRecord]) -> None:
    """Validate and store OCPI Location records (from a file or pushed), in batches."""
    locs: list[dict] = []
    evses: list[dict] = []
    conns: list[dict] = []
    n_batch = 0
    for rec in records:
        ctx.res.read += 1
        n_batch += 1
        _parse_location(ctx, rec.position, rec.obj, rec.raw_text if rec.error else None, rec.error,
                        locs, evses, conns)
        if n_batch >= BATCH:
            _flush_ocpi(ctx, locs, evses, conns)
            ctx.advance(n_batch)
            locs, evses, conns, n_batch = [], [], [], 0
    _flush_ocpi(ctx, locs, evses, conns)
    ctx.advance(n_batch)


def _parse_location(ctx: _Ctx, pos: int, obj: Any, raw: Any, error: str | None, locs: list, evses: list,
                    conns: list) -> None:
    q, name = ctx.q, ctx.name
    if error is not None:
        q.add("LP-MALFORMED", pos, raw() if callable(raw) else raw, f"{name} record {pos}: {error}")
        return
    if not isinstance(obj, dict):
        q.add("LP-TYPE", pos, obj, f"{name} record {pos}: a Location is a JSON object, got {type(obj).__name__}")
        return
    version = ocpi.location_version(obj)
    Model = ocpi.Location221 if version == "2.2.1" else ocpi.Location211
    rid = obj.get("id") if isinstance(obj.get("id"), (str, int)) else None
    op = obj.get("operator", {}).get("name") if isinstance(obj.get("operator"), dict) else None
    pid = obj.get("party_id") if isinstance(obj.get("party_id"), str) else None
    try:
        loc = Model.model_validate(obj)
    except ValidationError as e:
        code, msg = ocpi.rule_for(e)
        q.add(code, pos, obj, f"{name} record {pos} (OCPI {version} Location {rid}): {msg}",
              record_id=None if rid is None else str(rid), party_id=pid, operator=op)
        return
    stamps = [loc.last_updated] + [t for e in loc.evses for t in [e.last_updated] + [c.last_updated
                                                                                   for c in e.connectors]]
    if any(t is not None and t > ctx.future_limit for t in stamps):
        q.add("LP-FUTURE", pos, obj, f"{name} record {pos} (Location {loc.id}): a "
              + future_message(ctx.cfg), record_id=loc.id, party_id=pid, operator=op)
        return
    uids = Counter(e.uid for e in loc.evses)
    twice = sorted(u for u, n in uids.items() if n > 1)
    if twice:
        q.add("LP-DUPLICATE", pos, obj, f"{name} record {pos} (Location {loc.id}): EVSE uid(s) {twice} occur more "
              "than once in the location", record_id=loc.id, party_id=pid, operator=op)
        return
    lat, lon = loc.coordinates.latitude, loc.coordinates.longitude
    if not (np.isfinite(lat) and np.isfinite(lon)):
        q.add("LP-TYPE", pos, obj, f"{name} record {pos}: coordinates are not finite numbers",
              record_id=loc.id, party_id=pid, operator=op)
        return
    if outside_nl_scalar(lat, lon, ctx.cfg):
        q.add("LP-COORDS-NL", pos, obj, f"{name} record {pos} (Location {loc.id}): "
              + coords_message(lat, lon, ctx.cfg), record_id=loc.id, party_id=pid, operator=op)
        return
    parsed = Counter(ocpi.parse_evse_id(e.evse_id) for e in loc.evses if e.evse_id)
    parsed.pop((None, None), None)
    evse_cc, evse_party = parsed.most_common(1)[0][0] if parsed else (None, None)
    if isinstance(loc, ocpi.Location221):
        cc = loc.country_code.upper()
        if loc.party_id is not None:
            party = loc.party_id.upper()
        else:
            party = evse_party or ""
            ctx.fixed["party_id missing: taken from the EVSE ids" if evse_party else "party_id missing"] += 1
        publish, tz, parking, t247 = loc.publish, loc.time_zone, loc.parking_type, loc.twentyfourseven
    elif ctx.party is not None:  # 2.1.1 pushed by a known party (OCPI receiver): the party of the URL
        cc, party = ctx.party
        publish, tz, parking, t247 = None, loc.time_zone, loc.type, None
        if isinstance(loc.opening_times, dict):
            t247 = loc.opening_times.get("twentyfourseven")
    else:  # 2.1.1: the CPO from the EVSE ids, else the country only
        cc = evse_cc or ocpi.ALPHA3.get(loc.country.upper(), loc.country.upper()[:2])
        party = evse_party or ""
        publish, tz, parking, t247 = None, loc.time_zone, loc.type, None
        if isinstance(loc.opening_times, dict):
            t247 = loc.opening_times.get("twentyfourseven")
    if parking is not None and parking not in PARKING_TYPES:
        ctx.fixed[f"parking_type {parking!r} not OCPI"] += 1
        parking = None
    if not isinstance(t247, bool) and isinstance(getattr(loc, "opening_times", None), dict):
        t247 = loc.opening_times.get("twentyfourseven")
    t247 = t247 if isinstance(t247, bool) else None
    lu = loc.last_updated
    src = f"ocpi-{version}"
    evse_rows, conn_rows = [], []
    for e in loc.evses:
        e_lu = e.last_updated or lu
        for c in e.connectors:
            conn_rows.append({
                "country_code": cc, "party_id": party, "location_id": loc.id, "evse_uid": e.uid,
                "connector_id": c.id, "standard": c.standard, "format": c.format, "power_type": c.power_type,
                "max_voltage_v": c.volts, "max_amperage_a": c.amps, "_reported_w": c.max_electric_power,
                "tariff_ids": ";".join(c.tariffs) or None, "source": src, "source_file": ctx.name,
                "last_updated_utc": c.last_updated or e_lu, "_pos": pos,
            })
        caps = e.capabilities
        evse_rows.append({
            "country_code": cc, "party_id": party, "location_id": loc.id, "evse_uid": e.uid, "evse_id": e.evse_id,
            "status": e.status, "capabilities": ";".join(caps) if caps else None,
            "smart_charging_capable": ("CHARGING_PROFILE_CAPABLE" in caps) if caps is not None else None,
            "n_connectors": len(e.connectors),
            "lat": e.coordinates.latitude if e.coordinates else None,
            "lon": e.coordinates.longitude if e.coordinates else None,
            "source": src, "source_file": ctx.name, "last_updated_utc": e_lu, "_pos": pos,
        })
    locs.append({
        "location_id": loc.id, "country_code": cc, "party_id": party, "name": loc.name, "address": loc.address,
        "postal_code": loc.postal_code, "city": loc.city, "lat": lat, "lon": lon,
        "operator": loc.operator.name if loc.operator else None, "owner": loc.owner.name if loc.owner else None,
        "parking_type": parking, "publish": publish, "twentyfourseven": t247, "time_zone": tz,
        "n_evses": sum(1 for e in loc.evses if e.status != "REMOVED"),
        "source": src, "source_file": ctx.name, "last_updated_utc": lu, "_pos": pos, "_raw": obj,
    })
    evses.extend(evse_rows)
    conns.extend(conn_rows)


def _frame(rows: list[dict], table: str, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    t = model.table(table)
    if not rows:
        df = t.empty_frame()
        for e in extra:
            df[e] = pd.Series(dtype="object")
        return df
    df = pd.DataFrame(rows)
    for c in t.columns:
        if c.name not in df.columns:
            df[c.name] = _nulls(df.index, c.type)
        elif c.type == "timestamp":
            df[c.name] = pd.to_datetime(df[c.name]).astype("datetime64[us]")
        elif c.type == "float":
            df[c.name] = pd.to_numeric(df[c.name], errors="coerce").astype("float64")
        elif c.type == "str":
            df[c.name] = df[c.name].astype("string")
    return df


def _nulls(index: pd.Index, typ: str) -> pd.Series:
    return pd.Series([None] * len(index), index=index, dtype="object").astype(model.PANDAS_TYPES[typ])


def _conform(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """``df`` with exactly the columns of ``table`` (missing ones as typed nulls)."""
    t = model.table(table)
    out = {}
    for c in t.columns:
        out[c.name] = df[c.name] if c.name in df.columns else _nulls(df.index, c.type)
    return pd.DataFrame(out, index=df.index)


def _connector_power(ctx: _Ctx, conns: pd.DataFrame) -> pd.DataFrame:
    if conns.empty:
        conns["power_kw"] = pd.Series(dtype="float64")
        conns["power_derived"] = pd.Series(dtype="boolean")
        return conns
    bad_pt = conns["power_type"].notna() & ~conns["power_type"].isin(POWER_TYPES)
    if bad_pt.any():
        for v, n in conns.loc[bad_pt, "power_type"].value_counts().items():
            ctx.fixed[f"power_type {v!r} not OCPI"] += int(n)
        conns.loc[bad_pt, "power_type"] = pd.NA
    p, d, prob = connector_power(conns["power_type"], conns["max_voltage_v"], conns["max_amperage_a"],
                                 conns["_reported_w"], ctx.cfg)
    conns["power_kw"], conns["power_derived"] = p, d
    for m, n in prob.dropna().value_counts().items():
        ctx.power_problems[m] += int(n)
    for c in ("max_voltage_v", "max_amperage_a"):
        neg = conns[c] < 0
        if neg.any():
            ctx.fixed[f"negative {c}"] += int(neg.sum())
            conns.loc[neg, c] = np.nan
    return conns


def _flush_ocpi(ctx: _Ctx, locs: list, evses: list, conns: list) -> None:
    if not locs:
        return
    L = _frame(locs, "locations", ("_pos", "_raw"))
    E = _frame(evses, "evses", ("_pos",))
    C = _connector_power(ctx, _frame(conns, "connectors", ("_reported_w", "_pos")))
    # per-location summaries from the connectors
    if len(C):
        agg = C.assign(_dc=(C["power_type"] == "DC").fillna(False).astype(bool)).groupby(LOC_KEY, dropna=False).agg(
            max_power_kw=("power_kw", "max"), has_dc=("_dc", "max")).reset_index()
        L = L.drop(columns=["max_power_kw", "has_dc"]).merge(agg, on=LOC_KEY, how="left")
        emax = C.groupby(EVSE_KEY, dropna=False)["power_kw"].max().rename("max_power_kw").reset_index()
        E = E.drop(columns=["max_power_kw"]).merge(emax, on=EVSE_KEY, how="left")
    L = ctx.areas.assign(L)
    _linda_notes(ctx, L, E)
    _store_locations(ctx, L, E, C, replace_children=True)


def _store_locations(ctx: _Ctx, L: pd.DataFrame, E: pd.DataFrame | None, C: pd.DataFrame | None,
                     replace_children: bool) -> None:
    """Duplicate check, then upsert locations (and, for OCPI, the EVSEs/connectors of winning versions)."""
    store = ctx.store
    kept, dups = split_duplicates(store, "locations", L.drop(columns=["_raw"]))
    if len(dups):
        d = L.loc[dups.index]
        for pos, raw, rid, pid, op, lu in zip(d["_pos"], d["_raw"], d["location_id"], d["party_id"],
                                             d["operator"], d["last_updated_utc"]):
            ctx.q.add("LP-DUPLICATE", int(pos), raw, f"{ctx.name} record {pos}: location {rid} already read with "
                      f"the same last_updated ({lu}) but different content", record_id=str(rid),
                      party_id=None if pd.isna(pid) else str(pid), operator=None if pd.isna(op) else str(op))
    ctx.res.accepted += len(kept)
    if kept.empty:
        return
    ctx.seen.append(kept[LOC_KEY + ["_pos"]].assign(evse_uid=pd.NA))
    if replace_children and E is not None and C is not None:
        win = _winners(store, kept)
        if len(win):
            store.con.register("_win", win)
            try:
                match = " AND ".join(f't."{k}" = w."{k}"' for k in LOC_KEY)
                store.con.execute(f"DELETE FROM connectors t USING _win w WHERE {match}")
                store.con.execute(f"DELETE FROM evses t USING _win w WHERE {match}")
            finally:
                store.con.unregister("_win")
            # children of the winning record only (a batch may hold two versions of one location)
            E2 = E[E["_pos"].isin(win["_pos"])]
            C2 = C[C["_pos"].isin(win["_pos"])]
            ctx.add_upsert("evses", store.upsert("evses", _conform(E2, "evses")))
            ctx.add_upsert("connectors", store.upsert("connectors", _conform(C2, "connectors")))
            for t, rows in (("evses", E2[EVSE_KEY]), ("connectors", C2[CONN_KEY])):
                ctx.children[t] = pd.concat([ctx.children.get(t), rows.astype("string")],
                                            ignore_index=True).drop_duplicates()
    ctx.add_upsert("locations", store.upsert("locations", _conform(kept, "locations")))


def _winners(store: Store, L: pd.DataFrame) -> pd.DataFrame:
    """Keys (and winning last_updated) of locations in ``L`` that are new or newer than the stored version."""
    best = L.sort_values("last_updated_utc", ascending=False, na_position="last", kind="stable").drop_duplicates(
        LOC_KEY)
    store.con.register("_cand", best[LOC_KEY + ["last_updated_utc", "_pos"]])
    try:
        match = " AND ".join(f't."{k}" = c."{k}"' for k in LOC_KEY)
        win = store.query(
            f"SELECT c.* FROM _cand c LEFT JOIN locations t ON {match} "
            f"WHERE t.location_id IS NULL OR c.last_updated_utc > t.last_updated_utc "
            f"OR (t.last_updated_utc IS NULL AND c.last_updated_utc IS NOT NULL)")
    finally:
        store.con.unregister("_cand")
    return win


# ---------------------------------------------------------------------------------------------------
# NDW flat CSV
# ---------------------------------------------------------------------------------------------------
def _ndw_party_lookup(store: Store, location_ids: pd.Series) -> pd.DataFrame:
    """(location_id -> country_code, party_id) from EVSEs loaded from the NDW connectors CSV."""
    ids = pd.DataFrame({"location_id": location_ids.dropna().astype("string").unique()})
    store.con.register("_ids", ids)
    try:
        return store.query(
            "SELECT location_id, arg_max(country_code, n) AS country_code, arg_max(party_id, n) AS party_id FROM ("
            " SELECT e.location_id, e.country_code, e.party_id, count(*) AS n FROM evses e JOIN _ids i"
            " ON e.location_id = i.location_id WHERE e.source = 'ndw-csv' AND NOT coalesce(e.derived_from_count, false)"
            " GROUP BY ALL) GROUP BY location_id")
    finally:
        store.con.unregister("_ids")


def _ingest_ndw_locations(ctx: _Ctx, source: str) -> None:
    set_field_limit(ctx.cfg.validation.max_csv_field_chars, ctx.cfg.validation.max_record_bytes)
    for b in iter_csv_batches(source):
        df = b.rows
        ctx.res.read += len(df) + len(b.malformed)
        quarantine_malformed(ctx.q, ctx.name, b.malformed)
        lat, lat_bad = to_float(col(df, "lat", "latitude"))
        lon, lon_bad = to_float(col(df, "lon", "longitude"))
        lu, lu_bad = to_utc(col(df, "last_updated"))
        n_evses, ne_bad = to_float(col(df, "n_evses"))
        maxp, mp_bad = to_float(col(df, "max_power_kw"))
        t247, t_bad = to_bool(col(df, "twentyfourseven"))
        has_dc, dc_bad = to_bool(col(df, "has_dc"))
        rr = RowRules(df)
        rr.flag(col(df, "location_id").isna() | lat.isna() & ~lat_bad | lon.isna() & ~lon_bad, "LP-MISSING",
                lambda d: "mandatory field missing (location_id, lat, lon)")
        rr.flag(lat_bad | lon_bad, "LP-TYPE", "lat/lon not a number")
        rr.flag(lu_bad, "LP-TYPE", lambda d: "last_updated not a date-time: " + d["last_updated"].astype(str))
        rr.flag(lu > future_limit(ctx.cfg), "LP-FUTURE", future_message(ctx.cfg))
        rr.flag(ne_bad | (n_evses < 0) | (n_evses.notna() & (n_evses % 1 != 0)) | (n_evses > 2 ** 53), "LP-TYPE",
                "n_evses not a non-negative whole number")
        rr.flag(mp_bad | (maxp < 0), "LP-TYPE", "max_power_kw not a non-negative number")
        rr.flag(t_bad | dc_bad, "LP-TYPE", "twentyfourseven/has_dc not a boolean")
        out = outside_nl(lat, lon, ctx.cfg)
        rr.flag(out, "LP-COORDS-NL", lambda d: [coords_message(a, o, ctx.cfg) for a, o in
                                                zip(lat[d.index], lon[d.index])])
        rr.quarantine(ctx.q, ctx.name, id_col="location_id", operator_col="operator")
        ok = ~rr.bad
        d = df[ok]
        lid = d["location_id"].astype("string")
        p_ok = location_power_plausible(maxp[ok], has_dc[ok], ctx.cfg)
        if (~p_ok).any():
            ctx.fixed["LP-POWER: location max_power_kw implausible (a watt figure?), left empty"] += int((~p_ok).sum())
            log.warning("%s [rule LP-POWER]: max_power_kw %s of location(s) %s implausible, left empty", ctx.name,
                        ", ".join(f"{x:g}" for x in maxp[ok][~p_ok].head(5)), ", ".join(lid[~p_ok].head(5)))
        parties = _ndw_party_lookup(ctx.store, lid)
        pm = parties.set_index("location_id")
        parking = col(d, "parking_type").astype("string").str.upper()
        bad_pk = parking.notna() & ~parking.isin(PARKING_TYPES)
        if bad_pk.any():
            ctx.fixed["parking_type not OCPI"] += int(bad_pk.sum())
        layer = col(d, "layer").astype("string").str.lower()
        L = pd.DataFrame({
            "location_id": lid,
            "country_code": lid.map(pm["country_code"]).fillna("NL").astype("string") if len(pm)
            else pd.Series("NL", index=d.index, dtype="string"),
            "party_id": lid.map(pm["party_id"]).fillna("").astype("string") if len(pm)
            else pd.Series("", index=d.index, dtype="string"),
            "name": col(d, "name"), "address": col(d, "address"), "postal_code": col(d, "postal_code"),
            "city": col(d, "city"), "lat": lat[ok], "lon": lon[ok],
            "operator": col(d, "operator"), "owner": col(d, "owner"),
            "parking_type": parking.where(~bad_pk),
            "publish": pd.Series(pd.NA, index=d.index, dtype="boolean"),
            "twentyfourseven": t247[ok], "time_zone": pd.Series(ctx.cfg.region.time_zone, index=d.index),
            "n_evses": n_evses[ok].round().astype("Int64"),
            # 0 means 'unknown' in the point_only rows
            "max_power_kw": maxp[ok].where((maxp[ok] > 0) & p_ok),
            "has_dc": has_dc[ok],
            "layer": layer.where(layer.isin(["passenger", "freight"])),
            "source": "ndw-csv", "source_file": ctx.name, "last_updated_utc": lu[ok],
            "_pos": d["_pos"], "_raw": d["_raw"],
        }, index=d.index)
        L = ctx.areas.assign(L)
        if not ctx.areas.has("gemeente") and "gm_code" in d.columns:
            L["gm_code"] = d["gm_code"].astype("string")
        _linda_notes(ctx, L, None)
        _store_locations(ctx, L, None, None, replace_children=False)
        ctx.advance(len(df) + len(b.malformed))


def _ingest_ndw_connectors(ctx: _Ctx, source: str) -> None:
    held: pd.DataFrame | None = None  # rows of the last location of a batch, kept for the next one
    set_field_limit(ctx.cfg.validation.max_csv_field_chars, ctx.cfg.validation.max_record_bytes)
    for b in iter_csv_batches(source):
        ctx.res.read += len(b.rows) + len(b.malformed)
        quarantine_malformed(ctx.q, ctx.name, b.malformed)
        df = b.rows if held is None else pd.concat([held, b.rows], ignore_index=True)
        last = df["location_id"].iloc[-1] if len(df) else None
        tail = (df["location_id"] == last).fillna(False) if last is not None and not pd.isna(last) else \
            pd.Series(False, index=df.index)
        held = df[tail].reset_index(drop=True)
        if (~tail).any():
            _ndw_connector_batch(ctx, df[~tail].reset_index(drop=True))
        ctx.advance(len(b.rows) + len(b.malformed))
    if held is not None and len(held):
        _ndw_connector_batch(ctx, held)
    if ctx.rekey:
        _rekey_ndw_locations(ctx.store, pd.concat(ctx.rekey, ignore_index=True).drop_duplicates())


def _ndw_connector_batch(ctx: _Ctx, df: pd.DataFrame) -> None:
    volts, v_bad = to_float(col(df, "max_voltage", "voltage"))
    amps, a_bad = to_float(col(df, "max_amperage", "amperage"))
    rep, r_bad = to_float(col(df, "max_electric_power_w", "max_electric_power"))
    lu, lu_bad = to_utc(col(df, "last_updated"))
    status = col(df, "evse_status", "status").astype("string").str.upper()
    rr = RowRules(df)
    rr.flag(col(df, "location_id").isna() | col(df, "evse_uid").isna() | col(df, "connector_id").isna(),
            "LP-MISSING", "mandatory field missing (location_id, evse_uid, connector_id)")
    rr.flag(v_bad | a_bad | r_bad, "LP-TYPE", "max_voltage / max_amperage / max_electric_power_w not a number")
    rr.flag(lu_bad, "LP-TYPE", lambda d: "last_updated not a date-time: " + d["last_updated"].astype(str))
    rr.flag(lu > future_limit(ctx.cfg), "LP-FUTURE", future_message(ctx.cfg))
    rr.flag(status.notna() & ~status.isin(EVSE_STATUSES), "LP-STATUS",
            lambda d: "EVSE status " + status[d.index].astype(str) + " is not an OCPI status")
    rr.quarantine(ctx.q, ctx.name, id_col="location_id")
    ok = ~rr.bad
    d = df[ok]
    if d.empty:
        return
    parsed = col(d, "evse_id").astype("string").str.extract(r"^([A-Za-z]{2})[*.\- ]?([A-Za-z0-9]{3})")
    parsed.columns = ["cc", "party"]
    lid = d["location_id"].astype("string")
    # one (country, party) per location: the most frequent parsed from its EVSE ids, else ('NL', '')
    pp = pd.DataFrame({"location_id": lid, "cc": parsed["cc"].str.upper(), "party": parsed["party"].str.upper()})
    pp = pp.dropna(subset=["party"])
    if len(pp):
        best = (pp.groupby(["location_id", "cc", "party"]).size().rename("n").reset_index()
                .sort_values(["location_id", "n", "party"], ascending=[True, False, True])
                .drop_duplicates("location_id").set_index("location_id"))
        cc = lid.map(best["cc"]).fillna("NL")
        party = lid.map(best["party"]).fillna("")
    else:
        cc = pd.Series("NL", index=d.index, dtype="string")
        party = pd.Series("", index=d.index, dtype="string")
    pt = col(d, "power_type").astype("string").str.upper()
    C = pd.DataFrame({
        "country_code": cc.astype("string"), "party_id": party.astype("string"), "location_id": lid,
        "evse_uid": d["evse_uid"].astype("string"), "connector_id": d["connector_id"].astype("string"),
        "standard": col(d, "standard"), "format": col(d, "format"), "power_type": pt,
        "max_voltage_v": volts[ok], "max_amperage_a": amps[ok], "_reported_w": rep[ok],
        "tariff_ids": col(d, "tariff_ids"), "source": "ndw-csv", "source_file": ctx.name,
        "last_updated_utc": lu[ok], "_status": status[ok], "_evse_id": col(d, "evse_id"),
        "_pos": d["_pos"], "_raw": d["_raw"],
    }, index=d.index)
    C = _connector_power(ctx, C)
    kept, dups = split_duplicates(ctx.store, "connectors", C.drop(columns=["_pos", "_raw", "_status", "_evse_id",
                                                                           "_reported_w"]))
    for i in dups.index:
        ctx.q.add("LP-DUPLICATE", int(C.at[i, "_pos"]), str(C.at[i, "_raw"]),
                  f"{ctx.name} line {C.at[i, '_pos']}: connector {C.at[i, 'connector_id']} of EVSE "
                  f"{C.at[i, 'evse_uid']} already read with the same last_updated but different content",
                  record_id=str(C.at[i, "location_id"]), party_id=str(C.at[i, "party_id"]) or None)
    ctx.res.accepted += len(kept)
    if kept.empty:
        return
    Ck = C.loc[kept.index]
    ctx.seen.append(Ck[EVSE_KEY + ["_pos"]])
    E = (Ck.groupby(EVSE_KEY, sort=False)
         .agg(evse_id=("_evse_id", "first"), status=("_status", "first"), max_power_kw=("power_kw", "max"),
              n_connectors=("connector_id", "nunique"), last_updated_utc=("last_updated_utc", "max"))
         .reset_index())
    E["source"], E["source_file"] = "ndw-csv", ctx.name
    _linda_notes(ctx, None, E)
    ctx.add_upsert("evses", ctx.store.upsert("evses", E))
    ctx.add_upsert("connectors", ctx.store.upsert("connectors", _conform(Ck, "connectors")))
    ctx.rekey.append(E[LOC_KEY].drop_duplicates())


def _rekey_ndw_locations(store: Store, keys: pd.DataFrame) -> None:
    """Locations from the NDW locations CSV stored before their connectors (party ''): give them the
    party parsed from the connectors' EVSE ids, so both CSVs share one key."""
    keys = keys[keys["party_id"] != ""]
    if keys.empty or not int(store.query(
            "SELECT count(*) AS n FROM locations WHERE party_id = '' AND source = 'ndw-csv'").n.iloc[0]):
        return
    store.con.register("_rk", keys)
    try:
        names = model.table("locations").column_names
        cols = ", ".join(f'"{c}"' for c in names)
        sel = ", ".join(f'r."{c}"' if c in ("party_id", "country_code") else f'l."{c}"' for c in names)
        with store.transaction():  # joins the run's transaction
            store.con.execute(
                f"INSERT INTO locations ({cols}) SELECT {sel} FROM locations l JOIN _rk r "
                f"ON l.location_id = r.location_id WHERE l.party_id = '' AND l.source = 'ndw-csv' "
                f"AND NOT EXISTS (SELECT 1 FROM locations x WHERE x.country_code = r.country_code "
                f"AND x.party_id = r.party_id AND x.location_id = r.location_id)")
            store.con.execute(
                "DELETE FROM locations l USING _rk r WHERE l.location_id = r.location_id AND l.party_id = '' "
                "AND l.source = 'ndw-csv'")
    finally:
        store.con.unregister("_rk")


# ---------------------------------------------------------------------------------------------------
# one EVSE published under two locations (stale copies)
# ---------------------------------------------------------------------------------------------------
#: text every quarantine message of a set-aside copy contains (how a later run recognises them)
REPUBLISHED_MARK = "also published under location"


def set_aside_republished(ctx: _Ctx, source: str, layout: str, raws: dict[int, Any] | None = None) -> None:
    """Keep one copy of every EVSE that is published under more than one location (rule LP-DUPLICATE).

    An operator that moves EVSEs to a new location id often leaves the old location in the feed (the NDW
    feed of Zuid-Holland and Zeeland holds 20,939 such EVSEs). The same EVSE is the same
    ``country_code, party_id, evse_uid`` and ``evse_id`` (the party parsed from the EVSE id for the NDW
    CSV; EVSEs with neither a party nor an EVSE id are never matched). The copy with the newest EVSE
    ``last_updated`` is kept (OCPI: when this EVSE or one of its connectors last changed; the NDW connectors
    CSV carries no location date, so this keeps the result independent of the loading order); ties go to the
    smallest location_id. The other copies leave ``evses`` and ``connectors``, store-wide, after each file:

    * a copy read in this run from an NDW connectors CSV: each of its connector rows is quarantined
      (LP-DUPLICATE, naming both locations and dates) and moves from accepted to quarantined;
    * a copy inside an OCPI Location of this run: the Location is the record, so only when every EVSE of it
      is set aside is the record quarantined (below); otherwise the run's notes count the copies;
    * a copy from another file read earlier: replaced like an older version, counted in the notes.

    A location left with no EVSE because all of its EVSEs were set aside (now, or in an earlier run: the
    quarantine remembers) is a stale copy too: it leaves ``locations`` (else its ``n_evses`` would be derived
    into EVSEs again and it would count as a location); its record is quarantined when read in this run.
    Reloading the same files quarantines the same records at the same positions: nothing changes.
    """
    store = ctx.store
    stale = store.query("""
        WITH e AS (
            SELECT e.country_code, e.party_id, e.location_id, e.evse_uid, e.evse_id, e.last_updated_utc,
                   row_number() OVER w AS rk, first_value(e.location_id) OVER w AS keep_location_id,
                   first_value(e.last_updated_utc) OVER w AS keep_updated_utc
            FROM evses e
            WHERE NOT coalesce(e.derived_from_count, false) AND (e.party_id <> '' OR e.evse_id IS NOT NULL)
            WINDOW w AS (PARTITION BY e.country_code, e.party_id, e.evse_uid, coalesce(e.evse_id, '')
                         ORDER BY e.last_updated_utc DESC NULLS LAST, e.location_id))
        SELECT * EXCLUDE (rk) FROM e WHERE rk > 1 ORDER BY country_code, party_id, location_id, evse_uid""")
    seen = (pd.concat(ctx.seen, ignore_index=True) if ctx.seen
            else pd.DataFrame(columns=EVSE_KEY + ["_pos"]))
    seen = seen.rename(columns={"_pos": "pos"})
    seen_rows = seen[seen["evse_uid"].notna()]
    seen_locs = seen[seen["evse_uid"].isna()].drop(columns="evse_uid")
    unit = "record" if layout == "json" else "line"
    want: dict[int, str] = {}  # position -> quarantine message
    raws = dict(raws or {})  # position -> raw record, where already at hand
    who: dict[int, tuple[str, str]] = {}  # position -> (record_id, party_id)
    if len(stale):
        match = " AND ".join(f't."{k}" = s."{k}"' for k in EVSE_KEY)
        for t in ("connectors", "evses"):
            store.run_sql(f"DELETE FROM {t} t USING _stale s WHERE {match}", _stale=stale[EVSE_KEY])
        _uncount_children(ctx, stale, EVSE_KEY)
        hit = seen_rows.merge(stale, on=EVSE_KEY, how="inner")
        # rows of this run stored by a batch and removed here were never really added
        for t, n in (("evses", len(hit[EVSE_KEY].drop_duplicates())), ("connectors", len(hit))):
            if t in ctx.res.upserts:
                ctx.res.upserts[t].inserted = max(0, ctx.res.upserts[t].inserted - n)
        for r in hit.itertuples(index=False):
            want[int(r.pos)] = (
                f"{ctx.name} {unit} {r.pos}: EVSE {r.evse_id if pd.notna(r.evse_id) else r.evse_uid} (uid "
                f"{r.evse_uid}) is {REPUBLISHED_MARK} {r.keep_location_id}, last updated "
                f"{_stamp(r.keep_updated_utc)}; this copy under location {r.location_id} ({_stamp(r.last_updated_utc)}) "
                f"is not counted")
            who[int(r.pos)] = (str(r.location_id), str(r.party_id))
        other = len(stale) - len(hit[EVSE_KEY].drop_duplicates())
        if layout == "json":
            ctx.res.notes.append(f"LP-DUPLICATE: {len(stale):,} EVSE copies published again under a newer "
                                 f"location set aside (not counted)")
        elif other:
            ctx.res.notes.append(f"LP-DUPLICATE: {other:,} EVSE copies from earlier files superseded by a newer "
                                 f"copy under another location (not counted)")
    if layout == "ndw-locations" and ctx.cfg.validation.point_only_copies_count_once:
        _point_only_copies(ctx, source, seen_locs, want, who, raws)
    # locations left without EVSEs because every EVSE of theirs is published under a newer location
    gone_keys = stale[LOC_KEY].drop_duplicates() if len(stale) else pd.DataFrame(columns=LOC_KEY, dtype="string")
    lk = " AND ".join(f'e."{k}" = l."{k}"' for k in LOC_KEY)
    gk = " AND ".join(f'g."{k}" = l."{k}"' for k in LOC_KEY)
    dead = store.run_sql(f"""
            SELECT l.country_code, l.party_id, l.location_id, l.last_updated_utc FROM locations l
            WHERE NOT EXISTS (SELECT 1 FROM evses e WHERE {lk} AND NOT coalesce(e.derived_from_count, false))
              AND (EXISTS (SELECT 1 FROM _gone g WHERE {gk})
                   OR EXISTS (SELECT 1 FROM quarantine q WHERE q.kind = 'locations' AND q.rule_code = 'LP-DUPLICATE'
                              AND q.record_id = l.location_id AND (q.party_id = l.party_id OR l.party_id = '')
                              AND q.message LIKE '%{REPUBLISHED_MARK}%'))
            ORDER BY 1, 2, 3""", _gone=gone_keys.astype("string")).df()
    if len(dead):
        keep_of = (stale.groupby(LOC_KEY)["keep_location_id"].agg(lambda s: ", ".join(sorted(set(s))))
                   if len(stale) else pd.Series(dtype="string"))
        hit = seen_locs.merge(dead, on=LOC_KEY, how="inner")
        if "locations" in ctx.res.upserts:  # stored by this run and removed here: never really added
            u = ctx.res.upserts["locations"]
            u.inserted = max(0, u.inserted - len(hit[LOC_KEY].drop_duplicates()))
        for r in hit.itertuples(index=False):
            k = (r.country_code, r.party_id, r.location_id)
            where = (f"(s) {keep_of[k]} with a newer last_updated" if k in keep_of.index
                     else "(s) with a newer last_updated (its EVSE copies are in quarantine under LP-DUPLICATE)")
            want[int(r.pos)] = (f"{ctx.name} {unit} {r.pos}: every EVSE of location {r.location_id} (last updated "
                                 f"{_stamp(r.last_updated_utc)}) is {REPUBLISHED_MARK}{where}; this stale "
                                 f"location is not counted")
            who[int(r.pos)] = (str(r.location_id), str(r.party_id))
        match = " AND ".join(f't."{k}" = d."{k}"' for k in LOC_KEY)
        for t in ("connectors", "evses", "locations"):
            store.run_sql(f"DELETE FROM {t} t USING _dead d WHERE {match}", _dead=dead[LOC_KEY])
        _uncount_children(ctx, dead, LOC_KEY)
        rest = len(dead) - len(hit[LOC_KEY].drop_duplicates())
        if rest:
            ctx.res.notes.append(f"LP-DUPLICATE: {rest:,} stored locations from earlier files set aside: every "
                                 f"EVSE of theirs is published under a newer location")
    if not want:
        return
    missing = set(want) - set(raws)
    raw = {**raws, **(_raw_at(source, layout, missing) if missing else {})}
    for pos in sorted(want):
        rid, pid = who[pos]
        ctx.q.add("LP-DUPLICATE", pos, raw.get(pos, ""), want[pos], record_id=rid, party_id=pid or None)
    ctx.res.accepted -= len(want)
    log.info("%s: %d records set aside as copies of EVSEs published under a newer location (LP-DUPLICATE)",
             ctx.name, len(want))


def _uncount_children(ctx: _Ctx, removed: pd.DataFrame, on: list[str]) -> None:
    """EVSEs / connectors this run wrote under a location's new version (OCPI records) and then removed again
    (stale copies, locations all of whose EVSEs are such copies) were never really added: out of the run's
    inserted counts (else every reload of the same file reports them as inserted again)."""
    keys = removed[on].astype("string").drop_duplicates()
    for t, rows in list(ctx.children.items()):
        if rows.empty or t not in ctx.res.upserts:
            continue
        gone = (rows.merge(keys, on=on, how="left", indicator=True)["_merge"] == "both").to_numpy()
        ctx.res.upserts[t].inserted = max(0, ctx.res.upserts[t].inserted - int(gone.sum()))
        ctx.children[t] = rows[~gone]


def _point_only_copies(ctx: _Ctx, source: str, seen_locs: pd.DataFrame, want: dict, who: dict, raws: dict
                       ) -> None:
    """NDW locations CSV rows without EVSE detail (``detail_level`` point_only) that repeat another row's
    operator, name, coordinates and ``n_evses`` (the text as written): the same location published twice
    under two ids, with no EVSE id to tell them apart. The row with the newest last_updated (then the
    smallest location_id) counts; the others are set aside (quarantined when read in this run, which they
    always are: this looks at the rows of this file only). A location id listed more than once in the file,
    or one with EVSE detail in the store, is never set aside."""
    cols = ["location_id", "operator", "name", "lat", "lon", "n_evses", "last_updated", "detail_level"]
    parts, ids = [], []
    for b in iter_csv_batches(source):
        if "detail_level" not in b.rows.columns:
            return
        r = b.rows
        ids.append(r["location_id"])
        parts.append(r.loc[r["detail_level"].astype("string").str.strip() == "point_only",
                           [c for c in cols if c in r.columns] + ["_pos", "_raw"]])
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    sig = ["operator", "name", "lat", "lon", "n_evses"]
    if rows.empty or not set(sig) <= set(rows.columns):
        return
    all_ids = pd.concat(ids, ignore_index=True)
    once = set(all_ids.value_counts().loc[lambda v: v == 1].index)
    rows = rows.rename(columns={"_pos": "pos", "_raw": "raw"}).drop(columns=["location_id"]).merge(
        seen_locs, on="pos", how="inner")  # accepted in this run
    for c in sig:
        rows[c] = rows[c].astype("string").str.strip()
    n = pd.to_numeric(rows["n_evses"], errors="coerce")
    rows = rows[rows[sig].notna().all(axis=1) & (n > 0) & rows["location_id"].isin(once)]
    detailed = set(ctx.store.query("SELECT DISTINCT location_id FROM evses WHERE NOT coalesce(derived_from_count, "
                                   "false)")["location_id"])
    rows = rows[~rows["location_id"].isin(detailed)]
    if rows.empty:
        return
    rows = rows.assign(_lu=pd.to_datetime(rows["last_updated"], errors="coerce", utc=True)).sort_values(
        ["_lu", "location_id"], ascending=[False, True], na_position="last", kind="stable")
    first = rows.groupby(sig, sort=False)["location_id"].transform("first")
    copies = rows[rows["location_id"] != first].assign(keep=first[rows["location_id"] != first])
    if copies.empty:
        return
    for r in copies.itertuples(index=False):
        want[int(r.pos)] = (f"{ctx.name} line {r.pos}: location {r.location_id} has the same operator ({r.operator}), "
                            f"name, coordinates and n_evses ({r.n_evses}) as location {r.keep} and neither has EVSE "
                            f"detail: one location published twice, counted once (at {r.keep})")
        who[int(r.pos)] = (str(r.location_id), str(r.party_id))
        raws[int(r.pos)] = str(r.raw)
    store = ctx.store
    match = " AND ".join(f't."{k}" = d."{k}"' for k in LOC_KEY)
    keys = copies[LOC_KEY]
    store.run_sql(f"DELETE FROM evses t USING _copies d WHERE {match} AND t.derived_from_count", _copies=keys)
    store.run_sql(f"DELETE FROM locations t USING _copies d WHERE {match}", _copies=keys)
    if "locations" in ctx.res.upserts:
        u = ctx.res.upserts["locations"]
        u.inserted = max(0, u.inserted - len(copies))
    ctx.res.notes.append(f"LP-DUPLICATE: {len(copies):,} locations without EVSE detail repeat another's operator, "
                         f"name, coordinates and n_evses: counted once")


def _stamp(ts: Any) -> str:
    return "n/a" if ts is None or pd.isna(ts) else pd.Timestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _raw_at(source: str, layout: str, positions: set[int]) -> dict[int, Any]:
    """The raw text (CSV) or object (JSON) of the records at ``positions`` (a second pass over the source)."""
    out: dict[int, Any] = {}
    if layout == "json":
        for rec in iter_json_records(source):
            if rec.position in positions and rec.error is None:
                out[rec.position] = rec.obj
    else:
        for b in iter_csv_batches(source):
            sel = b.rows[b.rows["_pos"].isin(positions)]
            out.update(zip(sel["_pos"].astype(int), sel["_raw"].astype(str)))
    return out


# ---------------------------------------------------------------------------------------------------
# EVSEs derived from a location's count (NDW point_only rows)
# ---------------------------------------------------------------------------------------------------
COUNT_UID = "count-"


def sync_count_evses(ctx: _Ctx) -> None:
    """Give every NDW location without EVSE detail ``n_evses`` EVSE records (``derived_from_count``, uid
    ``count-1`` .. ``count-n``, the location's max power, no status), so every EVSE-based output counts
    them; drop derived records once real EVSEs of the location arrive, the location's count shrinks or its
    key changes. Adds a note with the counts and warns per gemeente where more than
    ``cfg.kpi.evse_detail_missing_warn_share`` of the EVSEs have no detail."""
    store = ctx.store
    lk = " AND ".join(f'e."{k}" = l."{k}"' for k in LOC_KEY)
    detailed = ("EXISTS (SELECT 1 FROM evses r WHERE " + " AND ".join(f'r."{k}" = l."{k}"' for k in LOC_KEY)
                + " AND NOT coalesce(r.derived_from_count, false))")
    before = int(store.query("SELECT count(*) AS n FROM evses WHERE derived_from_count").n.iloc[0])
    with store.transaction():  # joins the run's transaction
        # stale: no such location any more (re-keyed), it now has real EVSEs, or its count went down
        removed = store.con.execute(f"""
            DELETE FROM evses e WHERE e.derived_from_count AND NOT EXISTS (
                SELECT 1 FROM locations l WHERE {lk} AND l.source = 'ndw-csv' AND NOT {detailed}
                AND try_cast(substr(e.evse_uid, {len(COUNT_UID) + 1}) AS BIGINT) <= coalesce(l.n_evses, 0))
            """).fetchone()[0]
        cols = ", ".join(f'"{c}"' for c in ("country_code", "party_id", "location_id", "evse_uid", "max_power_kw",
                                            "derived_from_count", "source", "source_file", "last_updated_utc"))
        added = store.con.execute(f"""
            INSERT INTO evses ({cols})
            SELECT l.country_code, l.party_id, l.location_id, '{COUNT_UID}' || i.i::VARCHAR, l.max_power_kw, true,
                   l.source, l.source_file, l.last_updated_utc
            FROM locations l, LATERAL (SELECT range AS i FROM range(1, coalesce(l.n_evses, 0) + 1)) i
            WHERE l.source = 'ndw-csv' AND coalesce(l.n_evses, 0) > 0 AND NOT {detailed}
              AND NOT EXISTS (SELECT 1 FROM evses e WHERE {lk} AND e.evse_uid = '{COUNT_UID}' || i.i::VARCHAR)
            """).fetchone()[0]
    now = before - int(removed) + int(added)
    if not now and not removed:
        return
    ctx.res.notes.append(f"EVSE records derived from the location's n_evses (no EVSE detail in the source): "
                         f"{now:,} in the store ({int(added):,} added, {int(removed):,} removed)")
    msg = detail_warning(store, ctx.cfg)
    if msg:
        ctx.res.notes.append("warning: " + msg)
        log.info("%s: %s", ctx.name, msg)


def detail_warning(store: Store, cfg: RegionConfig, gm_code: str | None = None, top: int = 8) -> str | None:
    """A message naming the gemeenten where more than ``cfg.kpi.evse_detail_missing_warn_share`` of the EVSEs
    are derived from a location count (no EVSE id, status or power per EVSE), or None."""
    share = cfg.kpi.evse_detail_missing_warn_share
    df = store.query("""
        SELECT l.gm_code, count(*) AS evses, count(*) FILTER (WHERE e.derived_from_count) AS derived
        FROM evses e JOIN locations l USING (country_code, party_id, location_id)
        WHERE l.gm_code IS NOT NULL GROUP BY l.gm_code ORDER BY derived DESC, l.gm_code""")
    if gm_code is not None:
        df = df[df["gm_code"] == gm_code]
    df = df[df["derived"] > share * df["evses"]]
    if df.empty:
        return None
    parts = [f"{g} {int(d):,} of {int(n):,} ({d / n:.0%})" for g, d, n in
             zip(df["gm_code"].head(top), df["derived"].head(top), df["evses"].head(top))]
    more = f" and {len(df) - top} more" if len(df) > top else ""
    return (f"{len(df)} gemeente(n) with more than {share:.0%} of their EVSEs without EVSE detail in the source "
            f"(counted from the location's n_evses; no status, id or connector power): " + ", ".join(parts) + more)
