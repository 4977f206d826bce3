"""Lead times from granted request to working point on a hand-built request log."""

from __future__ import annotations

import pandas as pd
import pytest

from laadplan.contract.leadtime import lead_times, read_request_log, summarise
from laadplan.contract.settings import ContractConfig
from laadplan.ingest._io import SourceError

LOG = """request_id,requested_date,gm_code,decision,decided_date,objection_end_date,operational_date
r1,2026-01-01,GM0599,granted,2026-01-31,2026-03-14,2026-06-01
r2,2026-02-01,GM0599,Toegekend,2026-03-01,2026-04-12,2026-09-10
r3,2026-03-01,GM0505,granted,2026-03-15,,2026-07-01
r4,2026-03-01,GM0505,rejected,2026-03-15,,
r5,2025-12-01,GM0505,granted,2025-12-20,2026-01-31,
r6,2026-04-01,GM0599,granted,2026-05-01,2026-04-20,2026-08-01
r7,2025-01-01,GM0599,granted,2025-02-01,2025-03-15,2025-06-01
"""


@pytest.fixture
def log(tmp_path):
    p = tmp_path / "requests.csv"
    p.write_text(LOG)
    return read_request_log(p)


def test_lead_time_per_request(log):
    lt = lead_times(log, ContractConfig()).set_index("request_id")
    assert "r4" not in lt.index  # rejected
    assert lt.loc["r1", "lead_time_days"] == 151 and lt.loc["r1", "objection_days"] == 42
    assert lt.loc["r1", "lead_time_excl_objection_days"] == 109
    assert lt.loc["r2", "lead_time_days"] == 221  # 28+31+30+31+30+31+31+9
    assert lt.loc["r3", "objection_days"] == 0  # no objection period recorded
    assert lt.loc["r6", "objection_days"] == 0  # objection end before decision: not negative
    assert bool(lt.loc["r5", "open"]) and not bool(lt.loc["r1", "open"])


def test_median_and_p90_with_and_without_objection(log):
    cc = ContractConfig(max_lead_time_days=182)
    s = summarise(lead_times(log, cc), pd.Timestamp("2026-01-01"), pd.Timestamp("2027-01-01"), cc)
    # operational in 2026: 151, 221, 122, 122 -> sorted 122, 122, 151, 221
    assert s["requests_operational"] == 4
    assert s["lead_time_median_days"] == pytest.approx((122 + 151) / 2)
    assert s["lead_time_p90_days"] == pytest.approx(151 + 0.7 * (221 - 151))  # h = 0.9 * 3 = 2.7
    # without objection: 109, 179, 122, 122 -> 109, 122, 122, 179
    assert s["lead_time_excl_objection_median_days"] == pytest.approx(122)
    assert s["lead_time_excl_objection_p90_days"] == pytest.approx(122 + 0.7 * (179 - 122))
    assert s["requests_over_norm"] == 1  # r2
    assert s["requests_open"] == 1 and s["requests_open_over_norm"] == 1  # r5, 396 days at year end


def test_empty_period_gives_none(log):
    cc = ContractConfig()
    s = summarise(lead_times(log, cc), pd.Timestamp("2030-01-01"), pd.Timestamp("2030-02-01"), cc)
    assert s["requests_operational"] == 0 and s["lead_time_median_days"] is None


def test_unreadable_log_names_file(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("id,when\n1,2026-01-01\n")
    with pytest.raises(SourceError, match="bad.csv"):
        read_request_log(p)
    with pytest.raises(SourceError, match="nope.csv"):
        read_request_log(tmp_path / "nope.csv")
