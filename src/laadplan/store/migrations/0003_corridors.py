"""0003: the AFIR corridor lines as a table (``corridors``: one row per corridor with its line as WGS84 WKB,
written by ``laadplan corridors`` / ``hubs`` / ``demo``), and on PostgreSQL the PostGIS layer
``gis.corridors`` (``geom`` LineString EPSG:4326, ``geom_rd`` LineString RD New EPSG:28992, GIST indexes)
plus ``geom_rd`` for ``gis.hub_suggestions`` (hubs are placed along the corridors by distance in RD New)."""

from __future__ import annotations

SQL = """
CREATE TABLE IF NOT EXISTS "corridors" (
  "corridor_id" VARCHAR NOT NULL,
  "ref" VARCHAR,
  "network" VARCHAR CHECK ("network" IN ('core', 'comprehensive')),
  "name" VARCHAR,
  "length_km" DOUBLE CHECK ("length_km" >= 0),
  "source" VARCHAR,
  "geometry_wkb" BLOB,
  PRIMARY KEY ("corridor_id")
)
"""

#: the layers this step makes (or makes again, with more geometry columns)
LAYERS = ("corridors", "hub_suggestions")


def upgrade(store) -> None:
    store.con.execute(SQL)
    if store.backend != "postgres":
        return
    from laadplan.store.postgres import layer_sql

    store.clear_catalog_cache()
    for stmt in layer_sql(LAYERS):
        store.native_execute(stmt)
