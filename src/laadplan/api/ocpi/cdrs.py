"""CDRs receiver: POST of one CDR, validated by the CDR ingest's SQL path
(:func:`laadplan.ingest.cdrs.ingest_cdr_records`) and stored in ``sessions`` (or the quarantine) before the
answer; the answer's ``Location`` header names the stored CDR (``GET .../cdrs/{cc}/{party}/{id}``)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import JSONResponse

from laadplan.api.app import config_of
from laadplan.api.ocpi.core import (OK, check_party_in_body, envelope, module_caller, parse_time, principal, push,
                                    rejected_error, require_object, store_object)


def post_cdr(store, request: Request, v: str, body: Any, text: str) -> JSONResponse:
    obj = require_object(body, "CDR")
    p = principal(request, store)
    cc = obj.get("country_code") if isinstance(obj.get("country_code"), str) else p.country_code
    pid = obj.get("party_id") if isinstance(obj.get("party_id"), str) else p.party_id
    module_caller(request, store, cc or "", pid or "", write=True)
    check_party_in_body(obj, cc, pid, "CDR")
    if v == "2.1.1" and ("country_code" not in obj or "party_id" not in obj):
        # a 2.1.1 CDR need not carry its party: it is the token's
        obj = {**obj, "country_code": cc, "party_id": pid}
        text = json.dumps(obj, ensure_ascii=False)
    cfg = config_of(request)
    cdr_id = obj.get("id")
    cdr_id = str(cdr_id) if isinstance(cdr_id, (str, int)) and not isinstance(cdr_id, bool) else None

    def ingest(s, name, digest):
        from laadplan.ingest.cdrs import ingest_cdr_records
        return ingest_cdr_records(s, [(1, text)], cfg, name, digest=digest)

    def after(s, res):
        if res.accepted and cdr_id is not None:
            store_object(s, "cdrs", cc, pid, cdr_id, obj, v, parse_time(obj.get("last_updated")), s.run_id)

    out = push(store, "cdrs", cc, pid, text, ingest, after)
    if out.rejected:
        raise rejected_error(out, f"CDR {cdr_id}")
    url = (f"{config_of(request).server.public_url.rstrip('/')}/ocpi/{v}/receiver/cdrs/"
           f"{quote(cc.upper(), safe='')}/{quote(pid.upper(), safe='')}/{quote(cdr_id or '', safe='')}")
    return envelope(None, OK, "Success" if out.changed else "Success (unchanged)", headers={"Location": url})
