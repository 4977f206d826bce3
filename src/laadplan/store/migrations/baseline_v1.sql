-- The baseline schema of migration 0001 (laadplan 0.1, issue 14). DuckDB SQL; on PostgreSQL it runs through
-- DuckDB's attached catalog, which maps the types (VARCHAR -> varchar, DOUBLE -> float8, BLOB -> bytea, ...).
-- Frozen: a later model change is a new numbered migration, never an edit here.

CREATE TABLE IF NOT EXISTS "api_tokens" (
  "token_id" VARCHAR NOT NULL,
  "role" VARCHAR NOT NULL CHECK ("role" IN ('region', 'gemeente', 'operator', 'netbeheerder')),
  "gm_code" VARCHAR,
  "country_code" VARCHAR,
  "party_id" VARCHAR,
  "label" VARCHAR,
  "secret_hash" VARCHAR NOT NULL,
  "salt" VARCHAR NOT NULL,
  "created_utc" TIMESTAMP NOT NULL,
  "expires_utc" TIMESTAMP NOT NULL,
  "revoked_utc" TIMESTAMP,
  PRIMARY KEY ("token_id")
);

CREATE TABLE IF NOT EXISTS "contract_kpis" (
  "period" VARCHAR NOT NULL,
  "level" VARCHAR NOT NULL CHECK ("level" IN ('evse', 'location', 'gemeente', 'operator', 'region')),
  "subject_id" VARCHAR NOT NULL,
  "kpi" VARCHAR NOT NULL,
  "value" DOUBLE,
  "norm" DOUBLE,
  "unit" VARCHAR,
  "breach" BOOLEAN,
  "computed_utc" TIMESTAMP,
  PRIMARY KEY ("period", "level", "subject_id", "kpi")
);
CREATE INDEX IF NOT EXISTS "idx_contract_kpis_kpi" ON "contract_kpis" ("kpi");

CREATE TABLE IF NOT EXISTS "alerts" (
  "alert_id" VARCHAR NOT NULL,
  "period" VARCHAR NOT NULL,
  "rule" VARCHAR NOT NULL,
  "severity" VARCHAR CHECK ("severity" IN ('info', 'warning', 'breach')),
  "level" VARCHAR CHECK ("level" IN ('evse', 'location', 'gemeente', 'operator', 'region')),
  "subject_id" VARCHAR,
  "gm_code" VARCHAR,
  "operator" VARCHAR,
  "value" DOUBLE,
  "norm" DOUBLE,
  "unit" VARCHAR,
  "message" VARCHAR,
  "evidence_json" VARCHAR,
  "created_utc" TIMESTAMP,
  PRIMARY KEY ("alert_id")
);
CREATE INDEX IF NOT EXISTS "idx_alerts_period" ON "alerts" ("period");
CREATE INDEX IF NOT EXISTS "idx_alerts_rule" ON "alerts" ("rule");

CREATE TABLE IF NOT EXISTS "costs" (
  "source_file" VARCHAR NOT NULL,
  "position" BIGINT NOT NULL,
  "year" BIGINT NOT NULL CHECK ("year" >= 2000 AND "year" <= 2100),
  "category" VARCHAR,
  "amount_eur" DOUBLE,
  "description" VARCHAR,
  "ingested_utc" TIMESTAMP,
  "run_id" VARCHAR,
  PRIMARY KEY ("source_file", "position")
);

CREATE TABLE IF NOT EXISTS "evse_commissioning" (
  "country_code" VARCHAR NOT NULL,
  "party_id" VARCHAR NOT NULL,
  "location_id" VARCHAR NOT NULL,
  "evse_uid" VARCHAR NOT NULL,
  "first_ingested_utc" TIMESTAMP,
  "first_last_updated_utc" TIMESTAMP,
  "baseline" BOOLEAN,
  PRIMARY KEY ("country_code", "party_id", "location_id", "evse_uid")
);

CREATE TABLE IF NOT EXISTS "areas" (
  "area_code" VARCHAR NOT NULL,
  "level" VARCHAR NOT NULL CHECK ("level" IN ('province', 'gemeente', 'wijk', 'buurt', 'pc4', 'pc6', 'cell500', 'supply_area')),
  "name" VARCHAR,
  "parent_code" VARCHAR,
  "gm_code" VARCHAR,
  "province" VARCHAR,
  "inhabitants" BIGINT CHECK ("inhabitants" >= 0),
  "households" BIGINT CHECK ("households" >= 0),
  "cars" BIGINT CHECK ("cars" >= 0),
  "cars_per_household" DOUBLE CHECK ("cars_per_household" >= 0),
  "income_per_inhabitant_keur" DOUBLE CHECK ("income_per_inhabitant_keur" >= 0),
  "urbanity" BIGINT CHECK ("urbanity" >= 1 AND "urbanity" <= 5),
  "share_apartments" DOUBLE CHECK ("share_apartments" >= 0 AND "share_apartments" <= 1),
  "share_no_private_parking" DOUBLE CHECK ("share_no_private_parking" >= 0 AND "share_no_private_parking" <= 1),
  "area_km2" DOUBLE CHECK ("area_km2" >= 0),
  "centroid_lat" DOUBLE,
  "centroid_lon" DOUBLE,
  "geometry_wkb" BLOB,
  "source" VARCHAR,
  "source_file" VARCHAR,
  "run_id" VARCHAR,
  "last_updated_utc" TIMESTAMP,
  PRIMARY KEY ("area_code")
);
CREATE INDEX IF NOT EXISTS "idx_areas_level" ON "areas" ("level");
CREATE INDEX IF NOT EXISTS "idx_areas_gm_code" ON "areas" ("gm_code");

CREATE TABLE IF NOT EXISTS "locations" (
  "location_id" VARCHAR NOT NULL,
  "country_code" VARCHAR NOT NULL,
  "party_id" VARCHAR NOT NULL,
  "name" VARCHAR,
  "address" VARCHAR,
  "postal_code" VARCHAR,
  "city" VARCHAR,
  "lat" DOUBLE CHECK ("lat" >= -90 AND "lat" <= 90),
  "lon" DOUBLE CHECK ("lon" >= -180 AND "lon" <= 180),
  "x_rd" DOUBLE,
  "y_rd" DOUBLE,
  "gm_code" VARCHAR,
  "wk_code" VARCHAR,
  "bu_code" VARCHAR,
  "cell500_code" VARCHAR,
  "operator" VARCHAR,
  "owner" VARCHAR,
  "parking_type" VARCHAR CHECK ("parking_type" IN ('ON_STREET', 'PARKING_LOT', 'PARKING_GARAGE', 'UNDERGROUND_GARAGE', 'ALONG_MOTORWAY', 'ON_DRIVEWAY')),
  "publish" BOOLEAN,
  "twentyfourseven" BOOLEAN,
  "time_zone" VARCHAR,
  "n_evses" BIGINT CHECK ("n_evses" >= 0),
  "max_power_kw" DOUBLE CHECK ("max_power_kw" >= 0),
  "has_dc" BOOLEAN,
  "layer" VARCHAR CHECK ("layer" IN ('passenger', 'freight')),
  "source" VARCHAR,
  "source_file" VARCHAR,
  "run_id" VARCHAR,
  "last_updated_utc" TIMESTAMP,
  PRIMARY KEY ("country_code", "party_id", "location_id")
);
CREATE INDEX IF NOT EXISTS "idx_locations_gm_code" ON "locations" ("gm_code");
CREATE INDEX IF NOT EXISTS "idx_locations_location_id" ON "locations" ("location_id");

CREATE TABLE IF NOT EXISTS "evses" (
  "country_code" VARCHAR NOT NULL,
  "party_id" VARCHAR NOT NULL,
  "location_id" VARCHAR NOT NULL,
  "evse_uid" VARCHAR NOT NULL,
  "evse_id" VARCHAR,
  "status" VARCHAR CHECK ("status" IN ('AVAILABLE', 'BLOCKED', 'CHARGING', 'INOPERATIVE', 'OUTOFORDER', 'PLANNED', 'REMOVED', 'RESERVED', 'UNKNOWN')),
  "capabilities" VARCHAR,
  "smart_charging_capable" BOOLEAN,
  "max_power_kw" DOUBLE CHECK ("max_power_kw" >= 0),
  "n_connectors" BIGINT CHECK ("n_connectors" >= 0),
  "lat" DOUBLE,
  "lon" DOUBLE,
  "derived_from_count" BOOLEAN,
  "source" VARCHAR,
  "source_file" VARCHAR,
  "run_id" VARCHAR,
  "last_updated_utc" TIMESTAMP,
  PRIMARY KEY ("country_code", "party_id", "location_id", "evse_uid")
);
CREATE INDEX IF NOT EXISTS "idx_evses_location_id" ON "evses" ("location_id");

CREATE TABLE IF NOT EXISTS "connectors" (
  "country_code" VARCHAR NOT NULL,
  "party_id" VARCHAR NOT NULL,
  "location_id" VARCHAR NOT NULL,
  "evse_uid" VARCHAR NOT NULL,
  "connector_id" VARCHAR NOT NULL,
  "standard" VARCHAR,
  "format" VARCHAR,
  "power_type" VARCHAR CHECK ("power_type" IN ('AC_1_PHASE', 'AC_2_PHASE', 'AC_2_PHASE_SPLIT', 'AC_3_PHASE', 'DC')),
  "max_voltage_v" DOUBLE CHECK ("max_voltage_v" >= 0),
  "max_amperage_a" DOUBLE CHECK ("max_amperage_a" >= 0),
  "power_kw" DOUBLE CHECK ("power_kw" >= 0),
  "power_derived" BOOLEAN,
  "tariff_ids" VARCHAR,
  "source" VARCHAR,
  "source_file" VARCHAR,
  "run_id" VARCHAR,
  "last_updated_utc" TIMESTAMP,
  PRIMARY KEY ("country_code", "party_id", "location_id", "evse_uid", "connector_id")
);

CREATE TABLE IF NOT EXISTS "tariffs" (
  "country_code" VARCHAR NOT NULL,
  "party_id" VARCHAR NOT NULL,
  "tariff_id" VARCHAR NOT NULL,
  "currency" VARCHAR,
  "type" VARCHAR,
  "energy_price_eur_kwh_max" DOUBLE CHECK ("energy_price_eur_kwh_max" >= 0),
  "energy_price_eur_kwh_max_incl_vat" DOUBLE CHECK ("energy_price_eur_kwh_max_incl_vat" >= 0),
  "time_price_eur_h_max" DOUBLE CHECK ("time_price_eur_h_max" >= 0),
  "parking_price_eur_h_max" DOUBLE CHECK ("parking_price_eur_h_max" >= 0),
  "flat_price_eur_max" DOUBLE CHECK ("flat_price_eur_max" >= 0),
  "vat_pct" DOUBLE CHECK ("vat_pct" >= 0),
  "start_utc" TIMESTAMP,
  "end_utc" TIMESTAMP,
  "elements_json" VARCHAR,
  "source" VARCHAR,
  "source_file" VARCHAR,
  "run_id" VARCHAR,
  "last_updated_utc" TIMESTAMP,
  PRIMARY KEY ("country_code", "party_id", "tariff_id")
);

CREATE TABLE IF NOT EXISTS "tariff_versions" (
  "country_code" VARCHAR NOT NULL,
  "party_id" VARCHAR NOT NULL,
  "tariff_id" VARCHAR NOT NULL,
  "currency" VARCHAR,
  "type" VARCHAR,
  "energy_price_eur_kwh_max" DOUBLE CHECK ("energy_price_eur_kwh_max" >= 0),
  "energy_price_eur_kwh_max_incl_vat" DOUBLE CHECK ("energy_price_eur_kwh_max_incl_vat" >= 0),
  "time_price_eur_h_max" DOUBLE CHECK ("time_price_eur_h_max" >= 0),
  "parking_price_eur_h_max" DOUBLE CHECK ("parking_price_eur_h_max" >= 0),
  "flat_price_eur_max" DOUBLE CHECK ("flat_price_eur_max" >= 0),
  "vat_pct" DOUBLE CHECK ("vat_pct" >= 0),
  "start_utc" TIMESTAMP,
  "end_utc" TIMESTAMP,
  "elements_json" VARCHAR,
  "source" VARCHAR,
  "source_file" VARCHAR,
  "run_id" VARCHAR,
  "last_updated_utc" TIMESTAMP NOT NULL,
  PRIMARY KEY ("country_code", "party_id", "tariff_id", "last_updated_utc")
);

CREATE TABLE IF NOT EXISTS "sessions" (
  "session_id" VARCHAR NOT NULL,
  "country_code" VARCHAR,
  "party_id" VARCHAR,
  "location_id" VARCHAR,
  "evse_uid" VARCHAR,
  "evse_id" VARCHAR,
  "connector_id" VARCHAR,
  "start_utc" TIMESTAMP NOT NULL,
  "end_utc" TIMESTAMP NOT NULL,
  "connected_h" DOUBLE CHECK ("connected_h" >= 0),
  "charging_h" DOUBLE CHECK ("charging_h" >= 0),
  "energy_kwh" DOUBLE CHECK ("energy_kwh" >= 0),
  "max_power_kw" DOUBLE CHECK ("max_power_kw" >= 0),
  "user_id" VARCHAR,
  "auth_method" VARCHAR,
  "total_cost_eur" DOUBLE,
  "total_cost_incl_vat_eur" DOUBLE,
  "currency" VARCHAR,
  "lat" DOUBLE,
  "lon" DOUBLE,
  "source" VARCHAR,
  "source_file" VARCHAR,
  "run_id" VARCHAR,
  "last_updated_utc" TIMESTAMP,
  PRIMARY KEY ("session_id")
);
CREATE INDEX IF NOT EXISTS "idx_sessions_location_id_evse_uid" ON "sessions" ("location_id", "evse_uid");
CREATE INDEX IF NOT EXISTS "idx_sessions_start_utc" ON "sessions" ("start_utc");

CREATE TABLE IF NOT EXISTS "status_observations" (
  "country_code" VARCHAR NOT NULL,
  "party_id" VARCHAR NOT NULL,
  "location_id" VARCHAR NOT NULL,
  "evse_uid" VARCHAR NOT NULL,
  "observed_utc" TIMESTAMP NOT NULL,
  "status" VARCHAR NOT NULL CHECK ("status" IN ('AVAILABLE', 'BLOCKED', 'CHARGING', 'INOPERATIVE', 'OUTOFORDER', 'PLANNED', 'REMOVED', 'RESERVED', 'UNKNOWN')),
  "source" VARCHAR,
  "source_file" VARCHAR,
  "run_id" VARCHAR,
  PRIMARY KEY ("country_code", "party_id", "location_id", "evse_uid", "observed_utc")
);
CREATE INDEX IF NOT EXISTS "idx_status_observations_location_id" ON "status_observations" ("location_id");

CREATE TABLE IF NOT EXISTS "occupancy_observations" (
  "subject_level" VARCHAR NOT NULL CHECK ("subject_level" IN ('location', 'gemeente')),
  "subject_id" VARCHAR NOT NULL,
  "gm_code" VARCHAR,
  "observed_utc" TIMESTAMP NOT NULL,
  "evses_observed" BIGINT CHECK ("evses_observed" >= 0),
  "evses_occupied" DOUBLE CHECK ("evses_occupied" >= 0),
  "occupancy_share" DOUBLE CHECK ("occupancy_share" >= 0 AND "occupancy_share" <= 1),
  "source" VARCHAR,
  "source_file" VARCHAR,
  "run_id" VARCHAR,
  PRIMARY KEY ("subject_level", "subject_id", "observed_utc")
);

CREATE TABLE IF NOT EXISTS "quarantine" (
  "kind" VARCHAR NOT NULL,
  "rule_code" VARCHAR NOT NULL,
  "source_file" VARCHAR NOT NULL,
  "run_id" VARCHAR NOT NULL,
  "position" BIGINT NOT NULL,
  "record_id" VARCHAR,
  "party_id" VARCHAR,
  "operator" VARCHAR,
  "message" VARCHAR,
  "raw" VARCHAR,
  "ingested_utc" TIMESTAMP,
  PRIMARY KEY ("kind", "source_file", "run_id", "position", "rule_code")
);
CREATE INDEX IF NOT EXISTS "idx_quarantine_rule_code" ON "quarantine" ("rule_code");

CREATE TABLE IF NOT EXISTS "ingest_runs" (
  "run_id" VARCHAR NOT NULL,
  "kind" VARCHAR NOT NULL,
  "source_file" VARCHAR NOT NULL,
  "source_sha256" VARCHAR,
  "started_utc" TIMESTAMP,
  "finished_utc" TIMESTAMP,
  "records_read" BIGINT CHECK ("records_read" >= 0),
  "records_accepted" BIGINT CHECK ("records_accepted" >= 0),
  "records_quarantined" BIGINT CHECK ("records_quarantined" >= 0),
  "rows_inserted" BIGINT CHECK ("rows_inserted" >= 0),
  "rows_updated" BIGINT CHECK ("rows_updated" >= 0),
  PRIMARY KEY ("run_id")
);

CREATE TABLE IF NOT EXISTS "vehicle_counts" (
  "area_code" VARCHAR NOT NULL,
  "area_level" VARCHAR NOT NULL CHECK ("area_level" IN ('country', 'province', 'gemeente', 'wijk', 'buurt', 'pc4')),
  "year" BIGINT NOT NULL CHECK ("year" >= 1990 AND "year" <= 2100),
  "name" VARCHAR,
  "gm_code" VARCHAR,
  "province" VARCHAR,
  "road_vehicles" BIGINT CHECK ("road_vehicles" >= 0),
  "cars" BIGINT CHECK ("cars" >= 0),
  "vans" BIGINT CHECK ("vans" >= 0),
  "trucks" BIGINT CHECK ("trucks" >= 0),
  "tractor_units" BIGINT CHECK ("tractor_units" >= 0),
  "buses" BIGINT CHECK ("buses" >= 0),
  "motorcycles" BIGINT CHECK ("motorcycles" >= 0),
  "source" VARCHAR,
  "source_file" VARCHAR,
  "run_id" VARCHAR,
  PRIMARY KEY ("area_code", "area_level", "year")
);
CREATE INDEX IF NOT EXISTS "idx_vehicle_counts_gm_code" ON "vehicle_counts" ("gm_code");

CREATE TABLE IF NOT EXISTS "ev_forecast" (
  "area_code" VARCHAR NOT NULL,
  "area_level" VARCHAR NOT NULL,
  "year" BIGINT NOT NULL,
  "scenario" VARCHAR NOT NULL CHECK ("scenario" IN ('low', 'middle', 'high')),
  "vehicle" VARCHAR NOT NULL CHECK ("vehicle" IN ('car', 'van', 'truck')),
  "gm_code" VARCHAR,
  "fleet_count" DOUBLE CHECK ("fleet_count" >= 0),
  "weight" DOUBLE CHECK ("weight" >= 0),
  "ev_count" DOUBLE CHECK ("ev_count" >= 0),
  "ev_share" DOUBLE CHECK ("ev_share" >= 0 AND "ev_share" <= 1),
  PRIMARY KEY ("area_code", "area_level", "year", "scenario", "vehicle")
);

CREATE TABLE IF NOT EXISTS "forecast_need" (
  "area_code" VARCHAR NOT NULL,
  "area_level" VARCHAR NOT NULL,
  "year" BIGINT NOT NULL,
  "scenario" VARCHAR NOT NULL CHECK ("scenario" IN ('low', 'middle', 'high')),
  "gm_code" VARCHAR,
  "ev_count" DOUBLE CHECK ("ev_count" >= 0),
  "public_ev_count" DOUBLE CHECK ("public_ev_count" >= 0),
  "public_energy_kwh" DOUBLE CHECK ("public_energy_kwh" >= 0),
  "evses_needed" BIGINT CHECK ("evses_needed" >= 0),
  "evses_existing" BIGINT CHECK ("evses_existing" >= 0),
  "evses_gap" BIGINT CHECK ("evses_gap" >= 0),
  PRIMARY KEY ("area_code", "area_level", "year", "scenario")
);
CREATE INDEX IF NOT EXISTS "idx_forecast_need_area_level_year_scenario" ON "forecast_need" ("area_level", "year", "scenario");

CREATE TABLE IF NOT EXISTS "afir_fleet_check" (
  "area_code" VARCHAR NOT NULL,
  "area_level" VARCHAR NOT NULL,
  "year" BIGINT NOT NULL,
  "scenario" VARCHAR NOT NULL CHECK ("scenario" IN ('low', 'middle', 'high')),
  "bev_count" DOUBLE CHECK ("bev_count" >= 0),
  "phev_count" DOUBLE CHECK ("phev_count" >= 0),
  "required_kw" DOUBLE CHECK ("required_kw" >= 0),
  "public_kw" DOUBLE CHECK ("public_kw" >= 0),
  "kw_per_bev" DOUBLE CHECK ("kw_per_bev" >= 0),
  "compliant" BOOLEAN,
  PRIMARY KEY ("area_code", "area_level", "year", "scenario")
);

CREATE TABLE IF NOT EXISTS "afir_coverage" (
  "corridor_id" VARCHAR NOT NULL,
  "ref" VARCHAR,
  "network" VARCHAR CHECK ("network" IN ('core', 'comprehensive')),
  "vehicle" VARCHAR NOT NULL CHECK ("vehicle" IN ('heavy', 'light')),
  "milestone_year" BIGINT NOT NULL,
  "direction" VARCHAR NOT NULL CHECK ("direction" IN ('forward', 'backward')),
  "length_km" DOUBLE CHECK ("length_km" >= 0),
  "spacing_km" DOUBLE CHECK ("spacing_km" >= 0),
  "required_share" DOUBLE CHECK ("required_share" >= 0 AND "required_share" <= 1),
  "pools_near" BIGINT CHECK ("pools_near" >= 0),
  "qualifying_pools" BIGINT CHECK ("qualifying_pools" >= 0),
  "covered_km" DOUBLE CHECK ("covered_km" >= 0),
  "covered_share" DOUBLE CHECK ("covered_share" >= 0 AND "covered_share" <= 1),
  "gaps_over_spacing" BIGINT CHECK ("gaps_over_spacing" >= 0),
  "longest_gap_km" DOUBLE,
  "compliant" BOOLEAN,
  PRIMARY KEY ("corridor_id", "vehicle", "milestone_year", "direction")
);

CREATE TABLE IF NOT EXISTS "afir_gaps" (
  "corridor_id" VARCHAR NOT NULL,
  "ref" VARCHAR,
  "network" VARCHAR CHECK ("network" IN ('core', 'comprehensive')),
  "vehicle" VARCHAR NOT NULL CHECK ("vehicle" IN ('heavy', 'light')),
  "milestone_year" BIGINT NOT NULL,
  "direction" VARCHAR NOT NULL CHECK ("direction" IN ('forward', 'backward')),
  "spacing_km" DOUBLE,
  "gap_km" DOUBLE,
  "excess_km" DOUBLE,
  "from_km" DOUBLE NOT NULL,
  "to_km" DOUBLE,
  "from_pool" VARCHAR,
  "to_pool" VARCHAR,
  "new_pools_needed" BIGINT CHECK ("new_pools_needed" >= 0),
  PRIMARY KEY ("corridor_id", "vehicle", "milestone_year", "direction", "from_km")
);

CREATE TABLE IF NOT EXISTS "hub_suggestions" (
  "corridor_id" VARCHAR NOT NULL,
  "ref" VARCHAR,
  "milestone_year" BIGINT NOT NULL,
  "directions" VARCHAR,
  "gap_from_km" DOUBLE NOT NULL,
  "gap_to_km" DOUBLE,
  "gap_km" DOUBLE,
  "new_pools_needed" BIGINT CHECK ("new_pools_needed" >= 0),
  "rank" BIGINT NOT NULL CHECK ("rank" >= 0),
  "candidate_id" VARCHAR,
  "name" VARCHAR,
  "kind" VARCHAR,
  "pos_km" DOUBLE,
  "offset_km" DOUBLE,
  "deviation_km" DOUBLE,
  "grid_status" BIGINT,
  "score_km" DOUBLE,
  "closes_gap" BOOLEAN,
  "existing_kw" DOUBLE CHECK ("existing_kw" >= 0),
  "needed_kw" DOUBLE CHECK ("needed_kw" >= 0),
  "needed_stations" BIGINT CHECK ("needed_stations" >= 0),
  "lat" DOUBLE,
  "lon" DOUBLE,
  PRIMARY KEY ("corridor_id", "milestone_year", "gap_from_km", "rank")
);

CREATE TABLE IF NOT EXISTS "park_hubs" (
  "park_id" VARCHAR NOT NULL,
  "name" VARCHAR,
  "year" BIGINT NOT NULL,
  "scenario" VARCHAR,
  "ev_vans" DOUBLE CHECK ("ev_vans" >= 0),
  "ev_trucks" DOUBLE CHECK ("ev_trucks" >= 0),
  "daily_kwh" DOUBLE CHECK ("daily_kwh" >= 0),
  "installed_kw" DOUBLE CHECK ("installed_kw" >= 0),
  "peak_kw" DOUBLE CHECK ("peak_kw" >= 0),
  "connection_kw" DOUBLE CHECK ("connection_kw" >= 0),
  "connection_kw_battery" DOUBLE CHECK ("connection_kw_battery" >= 0),
  "chargers_json" VARCHAR,
  "grid_status" BIGINT,
  "priority_class" VARCHAR,
  "priority" BIGINT,
  PRIMARY KEY ("park_id", "year")
);

CREATE TABLE IF NOT EXISTS "site_options" (
  "site_id" VARCHAR NOT NULL,
  "name" VARCHAR,
  "option" VARCHAR NOT NULL CHECK ("option" IN ('grid', 'battery', 'hub')),
  "feasible" BOOLEAN,
  "reason" VARCHAR,
  "cost_eur" DOUBLE,
  "units" BIGINT,
  "swaps_per_day_max" BIGINT,
  "swaps_total" DOUBLE,
  "lead_weeks" DOUBLE,
  "hub_name" VARCHAR,
  "hub_km" DOUBLE,
  "recommended" BOOLEAN,
  PRIMARY KEY ("site_id", "option")
);

CREATE TABLE IF NOT EXISTS "ocpi_parties" (
  "country_code" VARCHAR NOT NULL,
  "party_id" VARCHAR NOT NULL,
  "status" VARCHAR NOT NULL CHECK ("status" IN ('pending', 'registered', 'unregistered')),
  "role" VARCHAR,
  "business_name" VARCHAR,
  "versions_url" VARCHAR,
  "version" VARCHAR,
  "token_b" VARCHAR,
  "token_a_id" VARCHAR,
  "token_c_id" VARCHAR,
  "created_utc" TIMESTAMP,
  "registered_utc" TIMESTAMP,
  "unregistered_utc" TIMESTAMP,
  PRIMARY KEY ("country_code", "party_id")
);

CREATE TABLE IF NOT EXISTS "ocpi_endpoints" (
  "country_code" VARCHAR NOT NULL,
  "party_id" VARCHAR NOT NULL,
  "identifier" VARCHAR NOT NULL,
  "role" VARCHAR NOT NULL,
  "url" VARCHAR,
  PRIMARY KEY ("country_code", "party_id", "identifier", "role")
);

CREATE TABLE IF NOT EXISTS "ocpi_objects" (
  "module" VARCHAR NOT NULL CHECK ("module" IN ('locations', 'sessions', 'cdrs', 'tariffs')),
  "country_code" VARCHAR NOT NULL,
  "party_id" VARCHAR NOT NULL,
  "object_id" VARCHAR NOT NULL,
  "version" VARCHAR,
  "object_json" VARCHAR NOT NULL,
  "last_updated_utc" TIMESTAMP,
  "received_utc" TIMESTAMP,
  "run_id" VARCHAR,
  PRIMARY KEY ("module", "country_code", "party_id", "object_id")
);

CREATE TABLE IF NOT EXISTS "ocpi_sessions" (
  "session_id" VARCHAR NOT NULL,
  "country_code" VARCHAR,
  "party_id" VARCHAR,
  "location_id" VARCHAR,
  "evse_uid" VARCHAR,
  "connector_id" VARCHAR,
  "start_utc" TIMESTAMP NOT NULL,
  "end_utc" TIMESTAMP,
  "energy_kwh" DOUBLE CHECK ("energy_kwh" >= 0),
  "status" VARCHAR CHECK ("status" IN ('ACTIVE', 'COMPLETED', 'INVALID', 'PENDING', 'RESERVATION')),
  "auth_method" VARCHAR,
  "user_id" VARCHAR,
  "total_cost_eur" DOUBLE,
  "currency" VARCHAR,
  "source" VARCHAR,
  "source_file" VARCHAR,
  "run_id" VARCHAR,
  "last_updated_utc" TIMESTAMP,
  PRIMARY KEY ("session_id")
);

CREATE TABLE IF NOT EXISTS "grid_areas" (
  "area_code" VARCHAR NOT NULL,
  "level" VARCHAR NOT NULL CHECK ("level" IN ('supply_area', 'pc6', 'congestion_area')),
  "name" VARCHAR,
  "operator" VARCHAR,
  "parent_code" VARCHAR,
  "offtake_status" BIGINT CHECK ("offtake_status" >= -1 AND "offtake_status" <= 3),
  "feedin_status" BIGINT CHECK ("feedin_status" >= -1 AND "feedin_status" <= 3),
  "demand_available_mw" DOUBLE CHECK ("demand_available_mw" >= 0),
  "demand_quoted_mw" DOUBLE CHECK ("demand_quoted_mw" >= 0),
  "demand_queue_mw" DOUBLE CHECK ("demand_queue_mw" >= 0),
  "demand_requests_in_queue" BIGINT CHECK ("demand_requests_in_queue" >= 0),
  "demand_alleviation_year" BIGINT,
  "geometry_wkb" BLOB,
  "valid_from" DATE,
  "source" VARCHAR,
  "source_file" VARCHAR,
  "run_id" VARCHAR,
  "last_updated_utc" TIMESTAMP,
  PRIMARY KEY ("level", "area_code")
);

CREATE TABLE IF NOT EXISTS "grid_connections" (
  "ean18" VARCHAR NOT NULL,
  "lat" DOUBLE CHECK ("lat" >= -90 AND "lat" <= 90),
  "lon" DOUBLE CHECK ("lon" >= -180 AND "lon" <= 180),
  "x_rd" DOUBLE,
  "y_rd" DOUBLE,
  "gm_code" VARCHAR,
  "postal_code" VARCHAR,
  "contracted_kw" DOUBLE CHECK ("contracted_kw" >= 0),
  "peak_kw" DOUBLE CHECK ("peak_kw" >= 0),
  "spare_kw" DOUBLE CHECK ("spare_kw" >= 0),
  "feeds_charge_points" BOOLEAN,
  "source" VARCHAR,
  "source_file" VARCHAR,
  "run_id" VARCHAR,
  "last_updated_utc" TIMESTAMP,
  PRIMARY KEY ("ean18")
);

CREATE TABLE IF NOT EXISTS "requests" (
  "request_id" VARCHAR NOT NULL,
  "requested_date" DATE NOT NULL,
  "address" VARCHAR,
  "postal_code" VARCHAR,
  "lat" DOUBLE CHECK ("lat" >= -90 AND "lat" <= 90),
  "lon" DOUBLE CHECK ("lon" >= -180 AND "lon" <= 180),
  "x_rd" DOUBLE,
  "y_rd" DOUBLE,
  "gm_code" VARCHAR,
  "lives_in_gm" BOOLEAN,
  "works_in_gm" BOOLEAN,
  "drives_ev" BOOLEAN,
  "has_private_parking" BOOLEAN,
  "annual_kwh" DOUBLE CHECK ("annual_kwh" >= 0),
  "decision" VARCHAR CHECK ("decision" IN ('granted', 'refused')),
  "decision_rule" VARCHAR,
  "decision_reason" VARCHAR,
  "nearest_point_m" DOUBLE CHECK ("nearest_point_m" >= 0),
  "points_within_walk" BIGINT CHECK ("points_within_walk" >= 0),
  "decided_date" DATE,
  "objection_end_date" DATE,
  "operational_date" DATE,
  "source" VARCHAR,
  "source_file" VARCHAR,
  "run_id" VARCHAR,
  "last_updated_utc" TIMESTAMP,
  PRIMARY KEY ("request_id")
);

CREATE TABLE IF NOT EXISTS "candidates" (
  "site_id" VARCHAR NOT NULL,
  "lat" DOUBLE CHECK ("lat" >= -90 AND "lat" <= 90),
  "lon" DOUBLE CHECK ("lon" >= -180 AND "lon" <= 180),
  "x_rd" DOUBLE,
  "y_rd" DOUBLE,
  "gm_code" VARCHAR,
  "postal_code" VARCHAR,
  "kind" VARCHAR CHECK ("kind" IN ('parking_bay', 'municipal_list', 'generated', 'other')),
  "max_evses" BIGINT CHECK ("max_evses" >= 1),
  "name" VARCHAR,
  "source" VARCHAR,
  "source_file" VARCHAR,
  "run_id" VARCHAR,
  "last_updated_utc" TIMESTAMP,
  PRIMARY KEY ("site_id")
);

CREATE TABLE IF NOT EXISTS "plan_sites" (
  "year" BIGINT NOT NULL,
  "gm_code" VARCHAR,
  "site_id" VARCHAR NOT NULL,
  "lat" DOUBLE,
  "lon" DOUBLE,
  "x_rd" DOUBLE,
  "y_rd" DOUBLE,
  "evses" BIGINT CHECK ("evses" >= 0),
  "evses_total" BIGINT CHECK ("evses_total" >= 0),
  "power_kw" DOUBLE CHECK ("power_kw" >= 0),
  "triggers" VARCHAR,
  "demand_covered" DOUBLE CHECK ("demand_covered" >= 0),
  "reasons" VARCHAR,
  "grid_route" VARCHAR CHECK ("grid_route" IN ('new_connection', 'existing_connection')),
  "ean18" VARCHAR,
  "area_code" VARCHAR,
  "offtake_status" BIGINT CHECK ("offtake_status" >= -1 AND "offtake_status" <= 3),
  "lead_time_weeks" DOUBLE CHECK ("lead_time_weeks" >= 0),
  "congestion_rule" BOOLEAN NOT NULL,
  "scenario" VARCHAR,
  "created_utc" TIMESTAMP,
  PRIMARY KEY ("congestion_rule", "year", "site_id")
);

CREATE TABLE IF NOT EXISTS "schema_version" (
  "version" BIGINT NOT NULL CHECK ("version" >= 1),
  "name" VARCHAR NOT NULL,
  "applied_utc" TIMESTAMP,
  PRIMARY KEY ("version")
);

CREATE TABLE IF NOT EXISTS "site_events" (
  "seq" BIGINT NOT NULL CHECK ("seq" >= 1),
  "event_id" VARCHAR NOT NULL,
  "created_utc" TIMESTAMP NOT NULL,
  "site_id" VARCHAR NOT NULL,
  "gm_code" VARCHAR,
  "action" VARCHAR NOT NULL CHECK ("action" IN ('state', 'move')),
  "state" VARCHAR NOT NULL CHECK ("state" IN ('voorgesteld', 'akkoord_gemeente', 'afgewezen', 'verkeersbesluit_genomen', 'in_aanleg', 'gerealiseerd')),
  "reason" VARCHAR,
  "decision_date" DATE,
  "objection_end_date" DATE,
  "lat" DOUBLE,
  "lon" DOUBLE,
  "evse_id" VARCHAR,
  "known_evses" VARCHAR,
  "actor" VARCHAR NOT NULL,
  "actor_role" VARCHAR,
  "prev_hash" VARCHAR NOT NULL,
  "event_hash" VARCHAR NOT NULL,
  PRIMARY KEY ("seq")
);

CREATE TABLE IF NOT EXISTS "web_sessions" (
  "session_hash" VARCHAR NOT NULL,
  "token_id" VARCHAR NOT NULL,
  "csrf_token" VARCHAR NOT NULL,
  "created_utc" TIMESTAMP NOT NULL,
  "expires_utc" TIMESTAMP NOT NULL,
  "ended_utc" TIMESTAMP,
  PRIMARY KEY ("session_hash")
);

CREATE TABLE IF NOT EXISTS "web_requests" (
  "request_id" VARCHAR NOT NULL,
  "created_utc" TIMESTAMP NOT NULL,
  "client_hash" VARCHAR,
  "ev_status" VARCHAR CHECK ("ev_status" IN ('ev', 'lease_ordered', 'none')),
  "expected_date" DATE,
  "purged_utc" TIMESTAMP,
  PRIMARY KEY ("request_id")
);

CREATE TABLE IF NOT EXISTS "web_secrets" (
  "name" VARCHAR NOT NULL,
  "value" VARCHAR NOT NULL,
  "created_utc" TIMESTAMP NOT NULL,
  PRIMARY KEY ("name")
);
