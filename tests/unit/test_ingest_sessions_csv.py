"""Session CSVs in the ElaadNL layout: local time -> UTC (incl. DST), units, rules, idempotence."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from laadplan.ingest.cdrs import detect_format, ingest_cdrs

HEADER = "Started,Ended,TotalEnergy,ConnectedTime,ChargeTime,MaxPower"


def _csv(tmp_path, rows, name="sessions.csv", header=HEADER):
    p = tmp_path / name
    p.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return str(p)


def _sessions(store):
    return store.frame("sessions").sort_values("start_utc").reset_index(drop=True)


def test_row_maps_to_session_in_utc_and_kwh(store, cfg, tmp_path):
    src = _csv(tmp_path, ["2018-01-01 08:45:26,2018-01-01 09:16:45,1830,0.5219,0.5219,3524",
                          "2018-07-01 12:00:00,2018-07-01 14:00:00,22000,2.0,1.5,11000"])
    assert detect_format(src) == "csv"
    res = ingest_cdrs(store, src, cfg)
    assert (res.kind, res.read, res.accepted, res.quarantined) == ("sessions", 2, 2, 0)
    s = _sessions(store)
    # winter: CET = UTC+1
    assert s.start_utc[0] == pd.Timestamp("2018-01-01 07:45:26")
    assert s.end_utc[0] == pd.Timestamp("2018-01-01 08:16:45")
    assert s.connected_h[0] == pytest.approx((31 * 60 + 19) / 3600)
    assert s.charging_h[0] == pytest.approx(0.5219)
    assert s.energy_kwh[0] == pytest.approx(1.830)  # Wh -> kWh
    assert s.max_power_kw[0] == pytest.approx(3.524)  # W -> kW
    # summer: CEST = UTC+2
    assert s.start_utc[1] == pd.Timestamp("2018-07-01 10:00:00")
    assert (s.energy_kwh[1], s.charging_h[1]) == (pytest.approx(22.0), pytest.approx(1.5))
    assert s.session_id.str.startswith("csv*").all() and s.session_id.nunique() == 2
    assert (s.source == "elaad-csv").all()


def test_dst_spring_forward_nonexistent_time(store, cfg, tmp_path):
    # 2018-03-25 02:30 does not exist in Amsterdam (02:00 -> 03:00); read with the offset before the jump
    # (+01:00) it is 01:30 UTC; 04:00 CEST is 02:00 UTC, so the session lasts 0.5 h as the row says.
    ingest_cdrs(store, _csv(tmp_path, ["2018-03-25 02:30:00,2018-03-25 04:00:00,1000,0.5,0.5,3700"]), cfg)
    s = _sessions(store)
    assert (s.start_utc[0], s.end_utc[0]) == (pd.Timestamp("2018-03-25 01:30:00"), pd.Timestamp("2018-03-25 02:00:00"))
    assert s.connected_h[0] == pytest.approx(0.5)


@pytest.mark.parametrize("start,end,connected,start_utc,end_utc", [
    # the end 02:30 on 2018-10-28 happens twice: 00:30 UTC (CEST) and 01:30 UTC (CET); ConnectedTime decides
    ("2018-10-28 01:30:00", "2018-10-28 02:30:00", 1.0, "2018-10-27 23:30:00", "2018-10-28 00:30:00"),
    ("2018-10-28 01:30:00", "2018-10-28 02:30:00", 2.0, "2018-10-27 23:30:00", "2018-10-28 01:30:00"),
    # an ambiguous start
    ("2018-10-28 02:30:00", "2018-10-28 03:30:00", 1.0, "2018-10-28 01:30:00", "2018-10-28 02:30:00"),
    ("2018-10-28 02:30:00", "2018-10-28 03:30:00", 2.0, "2018-10-28 00:30:00", "2018-10-28 02:30:00"),
    # both ambiguous, 15 minutes: both readings fit, the first occurrence (summer time) wins
    ("2018-10-28 02:15:00", "2018-10-28 02:30:00", 0.25, "2018-10-28 00:15:00", "2018-10-28 00:30:00"),
])
def test_dst_fall_back_ambiguous_time(store, cfg, tmp_path, start, end, connected, start_utc, end_utc):
    res = ingest_cdrs(store, _csv(tmp_path, [f"{start},{end},500,{connected},{connected / 2},3700"]), cfg)
    assert res.accepted == 1
    s = _sessions(store)
    assert (s.start_utc[0], s.end_utc[0]) == (pd.Timestamp(start_utc), pd.Timestamp(end_utc))
    assert s.connected_h[0] == pytest.approx(connected)


def test_bad_rows_each_quarantined_by_their_rule(store, cfg, tmp_path):
    rows = [
        "2018-01-02 10:00:00,2018-01-02 12:00:00,8000,2.0,1.5,7000",      # 2 good
        "2018-01-31 19:48:14,2018-02-01 06:30:30,10930,10.7044,-738.796,3240",  # 3 negative ChargeTime
        "2018-02-09 16:00:09,2018-02-09 20:37:39,47070,4.62,4.63,10440",  # 4 ChargeTime > ConnectedTime
        "2018-03-01 10:00:00,2018-03-01 12:00:00,9000,3.0,1.0,7000",      # 5 ConnectedTime 3 h vs 2 h
        "2018-03-02 10:00:00,2018-03-02 10:03:00,20,0.05,0.01,0",         # 6 MaxPower 0 and tiny energy: fine
        "2018-03-03 10:00:00,2018-03-03 11:00:00,30000,1.0,1.0,3700",     # 7 30 kWh in 1 h at 3.7 kW
        "2018-02-29 07:37:53,2018-02-29 16:46:45,11907,9.1478,3.7336,3360",  # 8 no such date
        ",2018-03-04 11:00:00,1000,1.0,1.0,3700",                         # 9 no start
        "2018-03-05 10:00:00,2018-03-05 11:00:00,-5,1.0,1.0,3700",        # 10 negative energy
        "2018-12-31 18:29:44,2018-01-01 11:14:15,22020,16.74,5.75,4560",  # 11 end before start (year wrap)
        "2018-03-06 10:00:00,2018-03-06 11:00:00,1000,1.0",               # 12 too few fields
        "2008-03-06 10:00:00,2008-03-06 11:00:00,1000,1.0,1.0,3700",      # 13 before 2009
        "2018-03-07 10:00:00,2018-03-07 11:00:00,abc,1.0,1.0,3700",       # 14 energy not a number
    ]
    src = _csv(tmp_path, rows)
    res = ingest_cdrs(store, src, cfg)
    q = store.frame("quarantine")
    got = q.groupby("position")["rule_code"].apply(lambda s: sorted(s)).to_dict()
    assert got == {
        3: ["LINDA-TIME-NEG"],
        4: ["LP-CHARGE-GT-CONNECTED"],
        5: ["LINDA-TIME-MISMATCH"],
        7: ["LP-ENERGY-POWER"],
        8: ["LP-TYPE"],
        9: ["LP-MISSING"],
        10: ["LINDA-ENERGY-NEG"],
        11: ["LINDA-START-END", "LINDA-TIME-MISMATCH"],
        12: ["LP-MALFORMED"],
        13: ["LINDA-BEFORE-2009"],
        14: ["LP-TYPE"],
    }
    assert (res.read, res.accepted, res.quarantined) == (13, 2, 11)
    assert (q.kind == "sessions").all()
    assert q.loc[q.position == 3, "raw"].item() == rows[1]
    s = _sessions(store)
    assert s.energy_kwh.tolist() == [pytest.approx(8.0), pytest.approx(0.02)]
    assert pd.isna(s.max_power_kw[1])  # MaxPower 0 = unknown


def test_optional_id_columns_semicolons_and_decimal_commas(store, cfg, tmp_path):
    header = "ChargePoint;Connector;Started;Ended;TotalEnergy;ConnectedTime;ChargeTime;MaxPower;StartCard"
    src = _csv(tmp_path, ["cp-17;2;2018-05-01 20:00:00;2018-05-01 21:30:00;4500,5;1,5;1,25;3680;card-9"],
               header=header)
    res = ingest_cdrs(store, src, cfg)
    assert res.accepted == 1
    s = _sessions(store).iloc[0]
    assert (s.evse_uid, s.connector_id, s.user_id) == ("cp-17", "2", "card-9")
    assert s.energy_kwh == pytest.approx(4.5005) and s.charging_h == pytest.approx(1.25)
    assert s.start_utc == pd.Timestamp("2018-05-01 18:00:00")


def test_reload_is_idempotent_and_gzip_url_give_the_same(store, cfg, tmp_path, http_server):
    rows = ["2018-01-01 08:45:26,2018-01-01 09:16:45,1830,0.5219,0.5219,3524",
            "2018-01-01 11:26:40,2018-01-01 14:36:13,28641,3.1592,2.3056,13680",
            "2018-01-31 19:48:14,2018-02-01 06:30:30,10930,10.7044,-738.796,3240"]
    src = _csv(tmp_path, rows)
    r1 = ingest_cdrs(store, src, cfg)
    r2 = ingest_cdrs(store, src, cfg)
    assert r1.upserts["sessions"].inserted == 2
    assert (r2.upserts["sessions"].inserted, r2.upserts["sessions"].unchanged) == (0, 2)
    assert (store.count("sessions"), store.count("quarantine")) == (2, 1)
    base, d = http_server
    (d / "s.csv.gz").write_bytes(gzip.compress((HEADER + "\n" + "\n".join(rows) + "\n").encode()))
    r3 = ingest_cdrs(store, f"{base}/s.csv.gz", cfg)
    # same rows -> same content-hash ids -> nothing new
    assert (r3.read, r3.accepted, r3.upserts["sessions"].inserted) == (3, 2, 0)
    assert store.count("sessions") == 2


def test_utc_columns_are_taken_as_utc(store, cfg, tmp_path):
    header = "TransactionId,ChargePoint,Connector,UTCTransactionStart,UTCTransactionStop,StartCard,ConnectedTime," \
             "ChargeTime,TotalEnergy,MaxPower"
    src = _csv(tmp_path, ["1,EVB-P1,1,2018-10-28 00:30:00,2018-10-28 02:30:00,C1,2.0,1.5,7000,3680"], header=header)
    assert detect_format(src) == "csv"
    res = ingest_cdrs(store, src, cfg)
    assert res.accepted == 1
    s = _sessions(store).iloc[0]
    # no local-time conversion: across the autumn DST change the 2 h stay 2 h
    assert (s.start_utc, s.end_utc) == (pd.Timestamp("2018-10-28 00:30:00"), pd.Timestamp("2018-10-28 02:30:00"))
    assert (s.evse_uid, s.user_id, s.energy_kwh) == ("EVB-P1", "C1", pytest.approx(7.0))
