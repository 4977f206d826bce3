"""Facts about the 63 municipalities of NAL-regio Zuidwest (Zuid-Holland + Zeeland), the seed of the demo region.

The table ``laadplan/data/municipalities_zuidwest.csv`` has one row per municipality:

============================  ======================================================================
column                        meaning and source
============================  ======================================================================
gm_code, name, province       CBS municipality code and name (PDOK CBS Gebiedsindelingen, 2024)
inhabitants                   inhabitants, CBS Kerncijfers wijken en buurten 2024 (StatLine 85984NED)
households                    **estimate**: ``round(inhabitants / 2.1)`` (the household count was not in
                              the source used); ``households_estimated`` says so per row
cars                          passenger cars registered (CBS Kerncijfers 2024)
cars_per_household            passenger cars per household (CBS Kerncijfers 2024, one decimal)
income_per_inhabitant_keur    average income per inhabitant in kEUR (CBS Kerncijfers 2024)
urbanity                      CBS *stedelijkheid* 1 (very strongly urban) .. 5 (not urban)
area_km2                      area of the generalised PDOK municipality polygon (land and water), km2
centroid_lat, centroid_lon    centroid of that polygon (computed in RD New), WGS84
in_concession                 whether the municipality is one of the 42 of the public charging concession
                              Zuidwest; **unknown** (the list is not public in our sources), left empty
============================  ======================================================================

Sources: CBS Kerncijfers wijken en buurten 2024 and PDOK *CBS Gebiedsindelingen* (gemeente_gegeneraliseerd),
both CC BY 4.0 (attribute CBS / Kadaster). The table was derived once from those public facts; it holds no
geometry and no modelled values. The demo region built from it (:mod:`laadplan.demo.base`) is synthetic.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd

FACTS_FILE = "municipalities_zuidwest.csv"


@lru_cache(maxsize=1)
def _load() -> pd.DataFrame:
    with resources.files("laadplan.data").joinpath(FACTS_FILE).open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh, dtype={"gm_code": "string", "name": "string", "province": "string"},
                         keep_default_na=True)
    df["in_concession"] = df["in_concession"].astype("boolean")
    df["households_estimated"] = df["households_estimated"].astype("boolean")
    return df


def municipalities() -> pd.DataFrame:
    """The facts table (a copy), sorted by ``gm_code``; ``in_concession`` is ``<NA>`` (unknown)."""
    return _load().copy()
