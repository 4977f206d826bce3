"""The regional server (``laadplan serve``): one FastAPI app over the store.

Layout (one module per concern; each router module exposes ``mount(app)`` and is wired in
:data:`laadplan.api.app.ROUTERS`):

* :mod:`laadplan.api.app` - ``create_app(db, config)``: store per request, health/readiness, request ids,
  body-size limit, error bodies without tracebacks, access log;
* :mod:`laadplan.api.auth` - roles, tokens (scrypt-hashed, expiring, revocable) and the ``Principal`` every
  endpoint checks its scope against;
* :mod:`laadplan.api.ocpi` - the OCPI 2.2.1 / 2.1.1 receiver for the operator's data;
* :mod:`laadplan.api.v1` - the read API for the region team, municipalities and grid operators;
* :mod:`laadplan.web` - the web app (map, dashboards, placement workflow, residents' requests).

Only this package and :mod:`laadplan.web` know HTTP; what they serve comes from the analyses and the store.
"""
