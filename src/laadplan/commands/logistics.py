"""``laadplan corridors | hubs | parks | sites``: logistics charging and zero-emission construction."""

from __future__ import annotations

from datetime import date
from enum import Enum
from pathlib import Path

import typer

from laadplan.commands.common import STATE, console, emit_json, fail, print_frame
from laadplan.commands.input_columns import columns_help

_FREIGHT = typer.Option(None, "--freight", help="Heavy-duty chargers GeoJSON (NDW freight layer), path or URL")
_ROADS = typer.Option(None, "--roads", help="Road file (GeoJSON LineStrings with ref, network) replacing the "
                                            "shipped reference corridors")
_OUT = typer.Option(Path("logistics-output"), "--out", help="Output folder (CSV tables and PNG map)")


class MapFormat(str, Enum):
    """``--format``: the map as PNG only, or also every map layer in a GeoPackage (QGIS)."""

    png = "png"
    gpkg = "gpkg"


_FORMAT = typer.Option(MapFormat.png, "--format", help="png: the map as PNG; gpkg: also every map layer with its "
                                                      "attributes in <command>.gpkg (RD New, for QGIS)")


def _done(res, title_tables: list[tuple[str, str]]) -> None:
    if STATE.json:
        emit_json({"files": [str(f) for f in res.files],
                   **{k: res.tables[k].drop(columns=["stations_kw"], errors="ignore").to_dict(orient="records")
                      for k, _ in title_tables}})
        return
    for key, title in title_tables:
        print_frame(res.tables[key], title)
    if res.problems is not None and len(res.problems):
        console.print(f"[yellow]{len(res.problems)} bad records kept in the quarantine[/] "
                      f"(first: {res.problems['message'].iloc[0]})")
    console.print("written: " + ", ".join(str(f) for f in res.files))


def _guard(fn):
    from laadplan.ingest._io import SourceError

    try:
        return fn()
    except SourceError as e:
        fail(str(e))


def register(app: typer.Typer) -> None:
    @app.command("corridors")
    def corridors_cmd(freight: str = _FREIGHT, roads: str = _ROADS, out: Path = _OUT,
                      parkings: str = typer.Option(None, "--parkings", help="Truck parking / service areas GeoJSON: "
                                                   "high-power sites next to a truck parking count for trucks"),
                      fmt: MapFormat = _FORMAT) -> None:
        """AFIR check of the TEN-T corridors: coverage, gaps and pools short of power per milestone."""
        from laadplan.logistics.pipeline import run_corridors

        with STATE.store(create=True) as store:  # reads its own source files: may start a store
            res = _guard(lambda: run_corridors(store, STATE.config(), out, freight=freight, roads=roads,
                                               parkings=parkings, gpkg=fmt is MapFormat.gpkg))
        cols = ["corridor_id", "network", "vehicle", "milestone_year", "length_km", "spacing_km", "required_share",
                "qualifying_pools", "covered_share", "gaps", "compliant"]
        res.tables["summary"] = res.tables["summary"][cols]
        gaps = res.tables["gaps"]
        res.tables["gaps_short"] = gaps[["corridor_id", "vehicle", "milestone_year", "direction", "from_km",
                                         "to_km", "gap_km", "from_pool", "to_pool", "new_pools_needed"]]
        chk = res.tables["pool_checks"]
        year = min((y for y in chk["milestone_year"] if y >= date.today().year), default=None)
        short = chk[(chk["vehicle"] == "heavy") & (chk["milestone_year"] == year) & ~chk["qualifies"]]
        res.tables["pools_short"] = short[["corridor_id", "name", "pos_km", "power_kw", "stations", "power_short_kw",
                                           "stations_short"]].round(1)
        tables = [("network", "AFIR verdict on the whole TEN-T length of the region, per direction"),
                  ("summary", "AFIR coverage per corridor (worse direction)"),
                  ("gaps_short", "Stretches lacking a pool within the spacing"),
                  ("pools_short", f"Pools near a corridor short of the heavy-duty {year} requirement")]
        if len(res.tables.get("urban_nodes", [])):
            tables.append(("urban_nodes", "AFIR urban nodes: heavy-duty charging power (stations >= 150 kW)"))
        if not STATE.json:
            console.print(f"heavy-duty: {res.extra.get('heavy_sites', 0)} high-power sites trucks can reach; "
                          f"{res.extra.get('light_only_sites', 0)} count for light-duty only (no truck parking, "
                          f"truck flag or truck name)")
        _done(res, tables)

    @app.command("hubs")
    def hubs_cmd(parkings: str = typer.Option(None, "--parkings", help="Truck parking / service areas GeoJSON"),
                 freight: str = _FREIGHT, roads: str = _ROADS, out: Path = _OUT,
                 parks: str = typer.Option(None, "--parks", help="Business parks file: parks near a corridor "
                                                                 "are hub candidates too"),
                 year: int = typer.Option(None, help="Suggest for the first milestone at or after this year "
                                                     "[default: this year]"),
                 vehicle: str = typer.Option("heavy", help="heavy or light"), fmt: MapFormat = _FORMAT) -> None:
        """Ranked hub sites for each corridor gap of the next AFIR milestone, with grid status and power."""
        from laadplan.logistics.pipeline import run_hubs

        if vehicle not in ("heavy", "light"):
            fail("--vehicle must be heavy or light")
        with STATE.store(create=True) as store:  # reads its own source files: may start a store
            res = _guard(lambda: run_hubs(store, STATE.config(), out, freight=freight, roads=roads,
                                          parkings=parkings, year=year, vehicle=vehicle, parks_src=parks,
                                          gpkg=fmt is MapFormat.gpkg))
        s = res.tables["suggestions"]
        res.tables["suggestions"] = s[["corridor_id", "milestone_year", "gap_from_km", "gap_to_km", "rank", "name",
                                       "kind", "pos_km", "grid_status", "score_km", "closes_gap", "needed_kw",
                                       "needed_stations"]]
        tables = [("suggestions", "Hub candidates per gap")]
        tpc = res.tables.get("truck_parkings")
        if tpc is not None and len(tpc):
            res.tables["truck_parking_summary"] = tpc.groupby("milestone_year").agg(
                truck_parkings=("candidate_id", "count"), required=("required", "first"),
                compliant=("compliant", "sum"), stations_missing=("missing", "sum")).reset_index()
            tables.append(("truck_parking_summary", "High-power stations at truck parkings (AFIR safe parking)"))
        _done(res, tables)

    @app.command("parks")
    def parks_cmd(path: str = typer.Argument(..., help="Business parks CSV or GeoJSON (path or URL)"),
                  out: Path = _OUT, fmt: MapFormat = _FORMAT) -> None:
        """Electric vans and trucks per business park, shared hub sizing (with/without battery), priority."""
        from laadplan.logistics.pipeline import run_parks

        with STATE.store(create=True) as store:  # reads its own source files: may start a store
            res = _guard(lambda: run_parks(store, STATE.config(), path, out, gpkg=fmt is MapFormat.gpkg))
        p = res.tables["priority"]
        cols = [c for c in ["priority", "park_id", "priority_class", "grid_status", "ev_vans", "ev_trucks",
                            "daily_kwh", "connection_kw", "connection_kw_battery"] if c in p]
        res.tables["priority"] = p[cols].round(1)
        _done(res, [("priority", f"Business park priority {STATE.config().logistics.park_priority_year}")])

    parks_cmd.__doc__ += columns_help("parks")

    @app.command("sites")
    def sites_cmd(path: str = typer.Argument(..., help="Construction sites CSV (one row per site and machine group)"),
                  freight: str = _FREIGHT,
                  parks: str = typer.Option(None, "--parks", help="Business parks file: their hubs count as nearby hubs"),
                  as_of: str = typer.Option(None, "--as-of", help="Planning date YYYY-MM-DD [default: today]"),
                  out: Path = _OUT, fmt: MapFormat = _FORMAT) -> None:
        """Weekly energy and peak per construction site and the cheapest feasible supply option."""
        from laadplan.logistics.pipeline import run_sites, site_summary

        try:
            when = date.fromisoformat(as_of) if as_of else None
        except ValueError:
            fail(f"--as-of {as_of!r} is not a date YYYY-MM-DD")
        with STATE.store(create=True) as store:  # reads its own source files: may start a store
            res = _guard(lambda: run_sites(store, STATE.config(), path, out, as_of=when, freight=freight,
                                           parks_src=parks, gpkg=fmt is MapFormat.gpkg))
        res.tables["summary"] = site_summary(res.tables["options"])
        _done(res, [("summary", "Construction sites: supply options (EUR, n/a = infeasible)")])

    sites_cmd.__doc__ += columns_help("sites")
