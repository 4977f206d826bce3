"""The CSV input columns of the readers that take the region's own tables (requests, candidates, costs,
connections, business parks, construction sites), in one place: shown in ``--help`` of ``laadplan ingest
KIND``, ``laadplan parks`` and ``laadplan sites`` and written out in docs/input-files.md (a test checks the
two agree). Each entry: (column, required?, meaning); aliases the reader also accepts are in brackets."""

from __future__ import annotations

#: kind -> (one-line note on the file, [(column, required, meaning)])
INPUT_COLUMNS: dict[str, tuple[str, list[tuple[str, bool, str]]]] = {
    "requests": ("CSV with , or ; as separator; one row per driver request. Booleans: true/false, 1/0, yes/no, "
                 "ja/nee.", [
                     ("request_id (id, aanvraag_id)", True, "unique id of the request"),
                     ("requested_date (date, datum)", True, "date of the request, YYYY-MM-DD"),
                     ("lat, lon (or x_rd, y_rd)", True, "position of the driver's address (WGS84 or RD New)"),
                     ("address (adres)", False, "street address"),
                     ("postal_code (postcode)", False, "PC6, 1234AB"),
                     ("gm_code", False, "CBS gemeente code; else found from the loaded gemeente polygons"),
                     ("lives_in_gm (woont_in_gemeente)", False, "the driver lives in the gemeente"),
                     ("works_in_gm (werkt_in_gemeente)", False, "the driver works in the gemeente"),
                     ("drives_ev (rijdt_elektrisch)", False, "the driver drives an electric car"),
                     ("has_private_parking (eigen_parkeerplaats)", False, "the driver has private parking"),
                     ("annual_kwh (kwh_per_jaar)", False, "expected charging energy per year, kWh"),
                     ("last_updated", False, "when the record last changed (newer replaces older)"),
                 ]),
    "candidates": ("CSV (, or ;), GeoJSON points or Parquet; one row per candidate site for new charge points.", [
        ("site_id (id)", True, "unique id of the site"),
        ("lat, lon (or x_rd, y_rd, or a GeoJSON Point)", True, "position"),
        ("kind (soort)", False, "parking_bay, municipal_list, generated or other (default other)"),
        ("max_evses (max_laadpunten)", False, "most charge points the site can take (>= 1)"),
        ("gm_code", False, "CBS gemeente code"),
        ("postal_code", False, "PC6, 1234AB"),
        ("name", False, "name of the site"),
        ("last_updated", False, "when the record last changed"),
    ]),
    "costs": ("CSV with a header; one row per cost item. Amounts may use a decimal comma (1234,56) without "
              "thousands separators.", [
                  ("year", True, "year the cost falls in (2000..2100)"),
                  ("category", True, "cost category, e.g. personeel, data, advies"),
                  ("amount_eur", True, "amount in euro"),
                  ("description", False, "free text"),
              ]),
    "connections": ("CSV (, or ;) or Parquet; one row per existing grid connection.", [
        ("ean18 (ean, ean_code)", True, "EAN18 code (18 digits, GS1 check digit)"),
        ("lat, lon (or x_rd, y_rd)", True, "position of the connection"),
        ("contracted_kw (gecontracteerd_kw)", True, "contracted capacity, kW (> 0)"),
        ("peak_kw (piek_kw)", True, "measured peak, kW (>= 0); spare_kw = contracted_kw - peak_kw"),
        ("feeds_charge_points (laadpunten)", False, "the connection already feeds charge points"),
        ("postal_code (postcode)", False, "PC6, 1234AB"),
        ("gm_code", False, "CBS gemeente code"),
        ("last_updated", False, "measurement date (the newest wins for a duplicate EAN)"),
    ]),
    "parks": ("CSV (, or ;) or GeoJSON points; one row per business park.", [
        ("park_id", True, "unique id of the park"),
        ("lat, lon (or a GeoJSON Point)", True, "position of the park (WGS84)"),
        ("name", False, "name of the park (default: park_id)"),
        ("firms", False, "number of firms; required unless both vans and trucks are given"),
        ("vans", False, "vans based at the park (default firms x logistics.vans_per_firm)"),
        ("trucks", False, "trucks based at the park (default firms x logistics.trucks_per_firm)"),
        ("area_ha", False, "area in hectares"),
        ("spare_kw", False, "known spare grid capacity at the park, kW"),
    ]),
    "sites": ("CSV (, or ;); one row per construction site and machine group (a site may have several rows, "
              "e.g. phases with their own dates).", [
                  ("site_id", True, "id of the site (rows with the same id are one site)"),
                  ("lat, lon", True, "position of the site (WGS84)"),
                  ("start_date, end_date", True, "first and last working day of the machine group, YYYY-MM-DD"),
                  ("kwh_per_day", True, "energy per machine per working day, kWh"),
                  ("power_kw", True, "charging power per machine, kW"),
                  ("name", False, "name of the site (default: site_id)"),
                  ("machine_type", False, "kind of machine (default: machine)"),
                  ("count", False, "machines in the group (default 1)"),
              ]),
}


def columns_help(kind: str) -> str:
    """The columns of ``kind`` as a ``--help`` paragraph ("" for kinds without an entry)."""
    if kind not in INPUT_COLUMNS:
        return ""
    note, cols = INPUT_COLUMNS[kind]
    req = ", ".join(c for c, r, _ in cols if r)
    opt = ", ".join(c for c, r, _ in cols if not r)
    return f"\n\nInput: {note} Required columns: {req}. Optional: {opt}. See docs/input-files.md."


def columns_markdown() -> str:
    """docs/input-files.md: one table of columns per input."""
    parts = ["# Input files of the region's own tables\n",
             "The columns `laadplan` reads from the region's own files (the other inputs are standard formats: "
             "OCPI, NDW, CBS, the capacity map; see README). Aliases the reader also accepts are in brackets. "
             "A record that breaks a rule goes to quarantine with the rule's code (`laadplan rules`). "
             "Generated from `laadplan.commands.input_columns`; the demo writes an example of each file to "
             "`demo-output/inputs/`.\n"]
    commands = {"parks": "laadplan parks PATH", "sites": "laadplan sites PATH"}
    for kind, (note, cols) in INPUT_COLUMNS.items():
        parts.append(f"## {kind} (`{commands.get(kind, f'laadplan ingest {kind} PATH')}`)\n")
        parts.append(note + "\n")
        parts.append("| column | required | meaning |\n|---|---|---|")
        parts.extend(f"| `{c}` | {'yes' if r else 'no'} | {m} |" for c, r, m in cols)
        parts.append("")
    return "\n".join(parts)
