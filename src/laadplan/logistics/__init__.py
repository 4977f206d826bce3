"""Logistics and construction (RAL work streams 1 and 2).

* :mod:`~laadplan.logistics.corridors`: TEN-T reference corridors (``data/corridors_zuidwest.geojson``,
  simplified, replaceable by a road file), high-power pools from the store and the NDW freight layer, and the
  AFIR check per corridor, direction, vehicle class and milestone (gaps, pools short of power or stations,
  covered length), plus the urban-node power check;
* :mod:`~laadplan.logistics.hubs`: ranked hub sites for each gap (truck parkings, service areas, business
  parks, existing pools to upgrade) with grid status and the power needed; stations at truck parkings;
* :mod:`~laadplan.logistics.parks`: electric vans and trucks per business park, shared hub sizing with and
  without a stationary battery, and a priority list that respects grid status;
* :mod:`~laadplan.logistics.sites`: weekly energy and peak of zero-emission construction sites and the
  cost and feasibility of a temporary connection, mobile batteries or a nearby hub;
* :mod:`~laadplan.logistics.pipeline`: the I/O edge used by the commands and the demo (store, CSV, PNG);
  everything else is pure functions over DataFrames. Parameters: :class:`~laadplan.logistics.settings.LogisticsConfig`.
"""
