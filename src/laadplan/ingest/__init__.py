"""Ingest: read sources (file path or URL), validate every record against named rules, store the
accepted rows and quarantine the rest.

Every reader has the same signature::

    ingest_<kind>(store, source, cfg, *, progress=None) -> IngestResult

``source`` is a path or an http(s) URL (gzip detected automatically); ``progress(n)`` is called with
the number of records read since the last call. :data:`READERS` maps each ``laadplan ingest KIND`` to
its reader; :func:`reader` imports it lazily and wraps it so that each source is one atomic ingest run
(records, quarantine rows and run row commit together; :func:`laadplan.ingest.base.run_reader`).
"""

from __future__ import annotations

import importlib
from typing import Callable

from laadplan.ingest.base import IngestResult, SourceError  # noqa: F401

READERS: dict[str, str] = {
    "areas": "laadplan.ingest.areas:ingest_areas",
    "locations": "laadplan.ingest.locations:ingest_locations",
    "tariffs": "laadplan.ingest.tariffs:ingest_tariffs",
    "cdrs": "laadplan.ingest.cdrs:ingest_cdrs",
    "status": "laadplan.ingest.status:ingest_status",
    "grid": "laadplan.ingest.grid:ingest_grid",
    "connections": "laadplan.ingest.connections:ingest_connections",
    "requests": "laadplan.ingest.requests:ingest_requests",
    "candidates": "laadplan.ingest.candidates:ingest_candidates",
    "costs": "laadplan.ingest.costs:ingest_costs",
    "vehicles": "laadplan.ingest.vehicles:ingest_vehicles",
}

DESCRIPTIONS: dict[str, str] = {
    "areas": "GeoJSON/GeoPackage polygons with CBS codes and facts (gemeente, wijk, buurt, PC4)",
    "locations": "OCPI 2.1.1/2.2.1 Locations (JSON array, {\"data\": [...]}, NDJSON, gzip) or the NDW flat CSV",
    "tariffs": "OCPI 2.2.1 Tariffs",
    "cdrs": "OCPI 2.1.1/2.2.1 CDRs or session CSV (ElaadNL layout)",
    "status": "EVSE status observations or hourly occupancy per location/gemeente (NDW snapshot CSV)",
    "grid": "Netbeheer Nederland capacity map: JSON (official schema) or CSV per supply area / PC6",
    "connections": "existing grid connections: EAN18, position, contracted and peak kW (CSV/Parquet)",
    "requests": "driver requests for a public charge point (CSV)",
    "candidates": "candidate sites for new charge points (CSV/GeoJSON)",
    "costs": "the region's actual concession costs per year (CSV)",
    "vehicles": "CBS 85236NED vehicle counts per region (NL/PV/GM/WK/BU) or per PC4 (CSV)",
}


def reader(kind: str) -> Callable[..., IngestResult]:
    try:
        target = READERS[kind]
    except KeyError:
        raise KeyError(f"unknown ingest kind {kind!r}; one of {sorted(READERS)}") from None
    mod, fn = target.split(":")
    return atomic(getattr(importlib.import_module(mod), fn))


def atomic(fn: Callable[..., IngestResult]) -> Callable[..., IngestResult]:
    """``fn`` run as one atomic ingest run per source (:func:`laadplan.ingest.base.run_reader`)."""
    import functools

    from laadplan.ingest.base import run_reader

    @functools.wraps(fn)
    def run(store, source, cfg, *, progress=None) -> IngestResult:
        return run_reader(fn, store, source, cfg, progress=progress)

    return run


def load_all_rules() -> None:
    """Import every reader so that every rule it registers is known (for ``laadplan rules``)."""
    for target in READERS.values():
        importlib.import_module(target.split(":")[0])
