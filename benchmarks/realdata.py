"""Where the benchmarks find the real open data of the region: ``../shared/data`` beside the repository (or
``LAADPLAN_SHARED_DATA``, as for the tests), read where it is and never copied."""

from __future__ import annotations

import os
from pathlib import Path

SHARED = Path(os.environ.get("LAADPLAN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
#: the region's NDW charge points: the locations, then their connectors (both ``laadplan ingest locations``)
NDW_CHARGE_POINTS = (SHARED / "ndw_ocpi" / "locations_zh_ze.csv", SHARED / "ndw_ocpi" / "connectors_zh_ze.csv")
