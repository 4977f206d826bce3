"""Usage KPIs (sessions), status-based occupancy and data-quality summaries.

Public API (a cross-family contract):

* :func:`usage_kpis` ``(store, cfg, level, start=None, end=None, period="range")`` -- per EVSE, location,
  gemeente, buurt or region; see :mod:`laadplan.kpi.usage` for the exact definitions;
* :func:`status_occupancy` ``(store, cfg, level, start=None, end=None)`` -- per location or gemeente
  from status snapshots; see :mod:`laadplan.kpi.status`;
* :func:`hour_of_week_occupancy` -- the 168-hour session-based occupancy profile.
"""

from laadplan.kpi.status import status_occupancy  # noqa: F401
from laadplan.kpi.usage import LEVELS, hour_of_week_occupancy, usage_kpis  # noqa: F401
