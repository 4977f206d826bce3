"""0002: PostGIS layers (PostgreSQL only): views in the schema ``gis`` with real geometry columns (``geom``
EPSG:4326, ``geom_rd`` RD New EPSG:28992 where laadplan measures distances) and GIST indexes on the
expressions the views use, so QGIS / ogrinfo open them directly. A DuckDB file keeps lat/lon, x_rd/y_rd and
WKB columns only (nothing to do)."""

from __future__ import annotations

#: the layers of this step (later steps add their own: a layer over a table made later cannot be made here)
LAYERS = ("areas", "congestion_areas", "locations", "evses", "grid_connections", "requests", "candidates",
          "plan_sites", "hub_suggestions", "demand_cells")


def upgrade(store) -> None:
    if store.backend != "postgres":
        return
    from laadplan.store.postgres import layer_sql

    for stmt in layer_sql(LAYERS):
        store.native_execute(stmt)
