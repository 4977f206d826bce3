"""Areas: GeoJSON or GeoPackage polygons with CBS codes and facts -> the ``areas`` table.

Two property layouts are understood (others map by the same names where they match):

* the municipality file of the shared data: ``code`` (GM....), ``gemeente``, ``province`` and the CBS
  facts ``inwoners``, ``autos_totaal``, ``autos_per_huishouden``, ``inkomen_per_inwoner`` (kEUR),
  ``stedelijkheid`` (1-5);
* the PDOK CBS *wijk- en buurtkaart*: ``statcode``/``buurtcode``/``wijkcode``/``gemeentecode``,
  ``statnaam``/``buurtnaam``/``wijknaam``/``gemeentenaam``, ``aantal_inwoners``, ``aantal_huishoudens``,
  ``personenautos_totaal``, ``gemiddeld_inkomen_per_inwoner`` (kEUR), ``stedelijkheid_adressen_per_km2``
  (the CBS urbanity class 1-5), ``percentage_meergezinswoning``. CBS writes missing or secret values as
  large negative numbers (-99999999, -99997, ...): every negative fact is stored as missing.

The level comes from the code: ``GM`` gemeente, ``WK`` wijk, ``BU`` buurt, ``PV`` province, four digits
PC4, and CBS 500 m grid cells (*vierkantstatistieken*, code field ``crs28992res500m`` or ``c28992r500``) as
``E0920N4370`` (easting and northing of the lower-left corner in hectometres) or
``CRS28992RES500mN437000E092000`` (metres); both are stored as ``E0920N4370`` with level ``cell500``
(households from ``aantal_part_huishoudens``). A cell code off the 500 m grid is ``LP-AREA-CODE``.
Geometry is reprojected to WGS84 (a file without CRS whose coordinates are metres is taken as RD
New); invalid polygons are repaired with ``shapely.make_valid`` (noted); missing or empty geometry is
``LP-GEOMETRY``; a missing or non-CBS code is ``LP-AREA-CODE``. ``area_km2`` is computed in RD New.

The version of a row is the file's modification time (local files) so that loading the same file twice
changes nothing and a re-exported file replaces older rows. After loading, the gm/wk/bu codes of every
stored location are recomputed by point-in-polygon (:func:`laadplan.ingest.locations.reassign_location_areas`).
Every polygon layer of a file is read (the PDOK GeoPackage holds gemeenten, wijken and buurten layers;
positions run on across layers). Features are read in batches (``skip_features``/``max_features``) so
memory stays bounded.
"""

from __future__ import annotations

import json
import logging
import os
import re
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from laadplan import geo
from laadplan.config import RegionConfig
from laadplan.ingest._io import SourceError, is_url, local_copy, source_name
from laadplan.ingest.base import IngestResult, Progress, Quarantine, log_run, utcnow
from laadplan.store import Store, UpsertResult

log = logging.getLogger(__name__)

BATCH = 5_000

PROVINCE_CODES = {"groningen": "PV20", "friesland": "PV21", "fryslân": "PV21", "drenthe": "PV22",
                  "overijssel": "PV23", "flevoland": "PV24", "gelderland": "PV25", "utrecht": "PV26",
                  "noord-holland": "PV27", "zuid-holland": "PV28", "zeeland": "PV29", "noord-brabant": "PV30",
                  "limburg": "PV31"}
_LEVELS = [(re.compile(r"^GM\d{4}$"), "gemeente"), (re.compile(r"^WK\d{6}$"), "wijk"),
           (re.compile(r"^BU\d{8}$"), "buurt"), (re.compile(r"^PV\d{2}$"), "province"),
           (re.compile(r"^\d{4}$"), "pc4"), (re.compile(r"^E\d{4}N\d{4}$"), "cell500")]
_CELL_M = re.compile(r"^CRS28992RES500MN(\d{6,7})E(\d{6,7})$")
CODE_FIELDS = ("crs28992res500m", "c28992r500", "statcode", "buurtcode", "wijkcode", "gemeentecode", "code",
               "area_code", "pc4", "postcode")
NAME_FIELDS = ("statnaam", "buurtnaam", "wijknaam", "gemeentenaam", "gemeente", "name", "naam")
FACTS = {  # our column -> candidate property names
    "inhabitants": ("inwoners", "aantal_inwoners"),
    "households": ("huishoudens", "aantal_huishoudens", "aantal_part_huishoudens"),
    "cars": ("autos_totaal", "personenautos_totaal"),
    "cars_per_household": ("autos_per_huishouden", "personenautos_per_huishouden"),
    "income_per_inhabitant_keur": ("inkomen_per_inwoner", "gemiddeld_inkomen_per_inwoner"),
    "urbanity": ("stedelijkheid", "stedelijkheid_adressen_per_km2"),
    "share_apartments": ("percentage_meergezinswoning",),  # percent -> share
}


def level_of(code: str | None) -> str | None:
    """CBS level of an area code (GM/WK/BU/PV prefix, a 4-digit PC4 or a 500 m cell ``E0920N4370`` whose
    corner lies on the 500 m grid), None when not a CBS code."""
    if not isinstance(code, str):
        return None
    for rx, lvl in _LEVELS:
        if rx.match(code):
            if lvl == "cell500" and (int(code[1:5]) % 5 or int(code[6:10]) % 5):
                return None  # not a 500 m cell corner
            return lvl
    return None


def normalise_cell_code(code: str | None) -> str | None:
    """``CRS28992RES500mN437000E092000`` (metres) -> ``E0920N4370`` (hectometres, as :func:`laadplan.geo.cell_code`);
    other codes unchanged."""
    if not isinstance(code, str):
        return code
    m = _CELL_M.match(code.upper())
    if not m:
        return code
    n, e = int(m.group(1)), int(m.group(2))
    if n % 100 or e % 100:
        return code  # not whole hectometres: left as it is, so the code check rejects it
    return f"E{e // 100:04d}N{n // 100:04d}"


def ingest_areas(store: Store, source: str, cfg: RegionConfig, *, progress: Progress | None = None
                 ) -> IngestResult:
    """Load area polygons with their CBS codes and facts, then re-assign the areas of stored locations."""
    import pyogrio

    name = source_name(source)
    started = utcnow()
    res = IngestResult("areas", name)
    q = Quarantine(store, "areas", name, res)
    version = None
    if not is_url(name):
        try:
            version = datetime.fromtimestamp(os.path.getmtime(name), tz=timezone.utc).replace(tzinfo=None)
        except OSError:
            raise SourceError(f"{name}: file not found") from None
    suffix = ".gpkg" if name.lower().rstrip(".gz").endswith(".gpkg") else ".geojson"
    with local_copy(source, suffix=suffix) as path:
        try:
            layers = pyogrio.list_layers(path)
        except Exception as e:  # pyogrio raises its own DataSourceError / DataLayerError hierarchy
            raise SourceError(f"{name}: not a readable GeoJSON/GeoPackage ({type(e).__name__}: {e})") from None
        # every polygon layer (a PDOK wijk-en-buurtkaart GeoPackage has gemeenten, wijken and buurten)
        polygonal = [str(lyr) for lyr, typ in layers if typ is None or "polygon" in str(typ).lower()
                     or str(typ).lower() == "unknown"]
        if not polygonal:
            raise SourceError(f"{name}: no polygon layer (layers: {[(str(a), str(b)) for a, b in layers]})")
        offset = 0  # positions run on over the layers
        for layer in polygonal:
            try:
                info = pyogrio.read_info(path, layer=layer)
            except Exception as e:  # noqa: BLE001 - any reader failure is a source error naming the file
                raise SourceError(f"{name}: layer {layer!r} unreadable ({e})") from None
            n = int(info.get("features") or 0)
            crs = info.get("crs")
            for start in range(0, max(n, 0), BATCH):
                try:
                    props, wkb = _read_features(path, layer, start)
                except Exception as e:  # noqa: BLE001
                    raise SourceError(f"{name}: cannot read features {start + 1}..{start + BATCH} of layer "
                                      f"{layer!r} ({e})") from None
                res.read += len(props)
                _batch(store, props, wkb, crs, offset + start, name, version, res, q)
                if progress is not None:
                    progress(len(props))
            offset += n
    q.flush()
    from laadplan.ingest.locations import reassign_location_areas

    changed = reassign_location_areas(store)
    if changed:
        res.notes.append(f"area codes of {changed:,} stored locations (re)assigned")
    log_run(store, res, started)
    return res


def _read_features(path, layer: str, start: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Properties and raw WKB of one batch of features. The geometry is converted per feature later, so one
    unreadable polygon (an unclosed ring) costs only its feature, not the batch."""
    from pyogrio.raw import read

    meta, _fids, wkb, fields = read(path, layer=layer, skip_features=start, max_features=BATCH)
    n = len(wkb) if wkb is not None else (len(fields[0]) if len(fields) else 0)
    props = pd.DataFrame({str(c): v for c, v in zip(meta["fields"], fields)}, index=pd.RangeIndex(n))
    return props, (wkb if wkb is not None else np.full(n, None, dtype=object))


#: CBS writes missing or secret values as these large negative numbers (-99999999, -99997, ...)
CBS_SENTINEL_MAX = -99995


def _num(props: pd.DataFrame, names: tuple[str, ...]) -> pd.Series:
    for n in names:
        if n in props.columns:
            v = pd.to_numeric(props[n], errors="coerce").astype("float64")
            return v.where(v >= 0)  # CBS sentinels (-99999999, -99997, ...) mean missing
    return pd.Series(np.nan, index=props.index)


#: facts stored in integer columns
_INT_FACTS = ("inhabitants", "households", "cars")


def _fact_problems(props: pd.DataFrame) -> pd.Series:
    """Per feature, the first fact that is present but not a usable number (None when all are fine): text
    that is not a number, NaN/inf, a negative value that is not a CBS sentinel, a count beyond 2**53."""
    from laadplan.ingest._tabular import int_bad

    out = pd.Series(None, index=props.index, dtype="object")
    for fact, names in FACTS.items():
        for n in names:
            if n not in props.columns:
                continue
            raw = props[n]
            present = raw.notna() & (raw.astype("string").str.strip() != "").fillna(False)
            v = pd.to_numeric(raw, errors="coerce").astype("float64")
            bad = present & ~np.isfinite(v)
            bad |= (v < 0) & (v > CBS_SENTINEL_MAX)
            if fact in _INT_FACTS:
                bad |= (v >= 0) & int_bad(v)
            msg = n + " " + raw.astype("string").str.slice(0, 40) + " is not a non-negative number"
            out = out.where(out.notna() | ~bad, msg)
            break
    return out

def _text(props: pd.DataFrame, names: tuple[str, ...]) -> pd.Series:
    out = pd.Series(pd.NA, index=props.index, dtype="string")
    for n in names:
        if n in props.columns:
            v = props[n].astype("string").str.strip().replace("", pd.NA)
            out = out.fillna(v)
    return out


def _batch(store: Store, props: pd.DataFrame, wkb: np.ndarray, crs, start: int, name: str, version,
           res: IngestResult, q: Quarantine) -> None:
    import shapely

    gdf = props  # one row per feature
    props = props.copy()
    props.columns = [str(c).strip().lower() for c in props.columns]
    pos = np.arange(start + 1, start + 1 + len(gdf))
    has_wkb = np.array([w is not None and len(w) > 0 for w in wkb], dtype=bool)
    geoms = shapely.from_wkb(np.asarray(wkb, dtype=object), on_invalid="ignore")
    unreadable = has_wkb & shapely.is_missing(geoms)
    # reproject to WGS84
    if crs is None and len(gdf):
        b = shapely.bounds(geoms[~shapely.is_missing(geoms)])
        if len(b) and np.nanmax(np.abs(b)) > 1000:
            crs = "EPSG:28992"  # metres without a declared CRS: RD New
    if crs is not None and len(gdf):
        import pyproj

        src = pyproj.CRS.from_user_input(crs)
        if not src.equals(pyproj.CRS.from_epsg(4326)):
            t = pyproj.Transformer.from_crs(src, "EPSG:4326", always_xy=True)
            geoms = shapely.transform(geoms, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    # code: the first NON-EMPTY code field in priority order (most specific first). It is then judged as it
    # is: a buurt whose buurtcode is broken is quarantined, never stored under its gemeentecode (which would
    # replace the gemeente itself).
    code = pd.Series(pd.NA, index=props.index, dtype="string")
    for f in CODE_FIELDS:
        if f in props.columns:
            v = props[f].astype("string").str.strip().str.upper().replace("", pd.NA)
            if f in ("pc4", "postcode"):
                v = v.where(v.isna(), v.str.extract(r"^(\d{4})", expand=False).astype("string").fillna(v))
            code = code.fillna(v)
    code = code.map(normalise_cell_code, na_action="ignore").astype("string")
    level = code.map(level_of, na_action="ignore")

    def raw(i: int) -> str:
        d = {k: (None if pd.isna(v) else v) for k, v in props.iloc[i].items()} if len(props.columns) else {}
        g = geoms[i]
        d["_geometry"] = None if g is None else (shapely.to_wkt(g, rounding_precision=6)[:2000])
        if unreadable[i]:
            d["_geometry"] = "<unreadable: " + bytes(wkb[i][:200]).hex() + ">"
        return json.dumps(d, ensure_ascii=False, default=str)

    bad = np.zeros(len(gdf), dtype=bool)
    for i in np.flatnonzero(level.isna().to_numpy()):
        q.add("LP-AREA-CODE", int(pos[i]), raw(i), f"{name} feature {pos[i]}: no CBS area code "
              "(GM/WK/BU/PV/PC4/500 m cell) "
              f"in {[f for f in CODE_FIELDS if f in props.columns]} (got {code.iloc[i]!r})",
              record_id=None if pd.isna(code.iloc[i]) else str(code.iloc[i]))
        bad[i] = True
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    not_poly = ~missing & ~np.isin(shapely.get_type_id(geoms), [3, 6])  # Polygon, MultiPolygon
    for i in np.flatnonzero((missing | not_poly) & ~bad):
        what = ("unreadable (e.g. a ring that is not closed)" if unreadable[i] else "missing or empty"
                if missing[i] else f"is a {shapely.get_type_id(geoms[i])} type, not a polygon")
        q.add("LP-GEOMETRY", int(pos[i]), raw(i), f"{name} feature {pos[i]} ({code.iloc[i]}): geometry {what}",
              record_id=str(code.iloc[i]))
        bad[i] = True
    facts_bad = _fact_problems(props)
    for i in np.flatnonzero(facts_bad.notna().to_numpy() & ~bad):
        q.add("LP-TYPE", int(pos[i]), raw(i), f"{name} feature {pos[i]} ({code.iloc[i]}): {facts_bad.iloc[i]}",
              record_id=str(code.iloc[i]))
        bad[i] = True
    ok = ~bad
    g = geoms[ok]
    invalid = ~shapely.is_valid(g)
    if invalid.any():
        g = g.copy()
        # 'structure' keeps the polygonal part only (a bow-tie becomes two triangles, no stray lines)
        g[invalid] = shapely.make_valid(g[invalid], method="structure", keep_collapsed=False)
        res.notes.append(f"{int(invalid.sum())} invalid polygons (e.g. self-intersecting) repaired with "
                         f"make_valid: " + ", ".join(code[ok][invalid].astype(str).head(10)))
    p = props[ok].reset_index(drop=True)
    c = code[ok].reset_index(drop=True)
    lvl = level[ok].reset_index(drop=True)
    if not ok.any():
        return
    gm = pd.Series(pd.NA, index=p.index, dtype="string")
    if "gemeentecode" in p.columns:
        gm = p["gemeentecode"].astype("string").str.strip().str.upper().where(lambda s: s.str.match(r"^GM\d{4}$"))
    derived_gm = ("GM" + c.str[2:6]).where(lvl.isin(["wijk", "buurt"]))
    gm = gm.fillna(derived_gm).where(lvl != "gemeente", c)
    province = _text(p, ("province", "provincienaam", "provincie"))
    parent = pd.Series(pd.NA, index=p.index, dtype="string")
    parent = parent.where(lvl != "buurt", "WK" + c.str[2:8])
    parent = parent.where(lvl != "wijk", gm)
    parent = parent.where(lvl != "gemeente", province.str.lower().map(PROVINCE_CODES).astype("string"))
    facts = {k: _num(p, v) for k, v in FACTS.items()}
    if facts["cars_per_household"].isna().all():
        with np.errstate(divide="ignore", invalid="ignore"):
            facts["cars_per_household"] = (facts["cars"] / facts["households"]).where(facts["households"] > 0)
    urb = facts["urbanity"].round()
    facts["urbanity"] = urb.where(urb.between(1, 5))
    facts["share_apartments"] = (facts["share_apartments"] / 100).where(lambda s: s.between(0, 1))
    rd = shapely.transform(g, lambda xy: np.column_stack(geo.to_rd(xy[:, 0], xy[:, 1])))
    rep = shapely.point_on_surface(g)
    df = pd.DataFrame({
        "area_code": c, "level": lvl, "name": _text(p, NAME_FIELDS), "parent_code": parent, "gm_code": gm,
        "province": province,
        "inhabitants": facts["inhabitants"].round().astype("Int64"),
        "households": facts["households"].round().astype("Int64"),
        "cars": facts["cars"].round().astype("Int64"),
        "cars_per_household": facts["cars_per_household"],
        "income_per_inhabitant_keur": facts["income_per_inhabitant_keur"],
        "urbanity": facts["urbanity"].astype("Int64"),
        "share_apartments": facts["share_apartments"],
        "area_km2": shapely.area(rd) / 1e6,
        "centroid_lat": shapely.get_y(rep), "centroid_lon": shapely.get_x(rep),
        "geometry_wkb": list(shapely.to_wkb(g)),
        "source": "cbs-areas", "source_file": name, "last_updated_utc": version,
    })
    df["last_updated_utc"] = pd.to_datetime(df["last_updated_utc"]).astype("datetime64[us]")
    from laadplan.ingest.locations import split_duplicates

    ok_pos = pos[ok]
    df, dups = split_duplicates(store, "areas", df)
    for i in dups.index:  # same code and version as an earlier feature (or stored row), other content
        j = int(np.flatnonzero(ok)[i])
        q.add("LP-DUPLICATE", int(ok_pos[i]), raw(j), f"{name} feature {ok_pos[i]}: area {dups.at[i, 'area_code']} "
              "already read from this file version with different content", record_id=str(dups.at[i, "area_code"]))
    res.accepted += len(df)
    if df.empty:
        return
    u = store.upsert("areas", df)
    res.upserts.setdefault("areas", UpsertResult())
    res.upserts["areas"] += u
