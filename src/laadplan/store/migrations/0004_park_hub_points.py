"""0004: business-park hubs get their park's point (``park_hubs.lat``/``lon`` in WGS84 and ``x_rd``/``y_rd`` in
RD New, from the parks file ``laadplan parks`` reads), and on PostgreSQL the PostGIS layer ``gis.park_hubs``
(``geom`` Point EPSG:4326, ``geom_rd`` Point EPSG:28992, GIST indexes), so QGIS shows the hubs beside the
corridors. Rows written before this step keep NULL points until ``laadplan parks`` (or ``demo``) runs again."""

from __future__ import annotations

COLUMNS = (("lat", "DOUBLE"), ("lon", "DOUBLE"), ("x_rd", "DOUBLE"), ("y_rd", "DOUBLE"))

#: the layers this step makes
LAYERS = ("park_hubs",)


def upgrade(store) -> None:
    have = {d[0] for d in store.con.execute('SELECT * FROM "park_hubs" LIMIT 0').description}
    pg = store.backend == "postgres"
    for name, typ in COLUMNS:
        if name not in have:  # the postgres extension would pass DuckDB's type name on; PostgreSQL's own DDL
            if pg:
                store.native_execute(f'ALTER TABLE public."park_hubs" ADD COLUMN "{name}" double precision')
            else:
                store.con.execute(f'ALTER TABLE "park_hubs" ADD COLUMN "{name}" {typ}')
    if not pg:
        return
    from laadplan.store.postgres import layer_sql

    store.clear_catalog_cache()
    for stmt in layer_sql(LAYERS):
        store.native_execute(stmt)
