"""The HTML pages of the web app (Dutch; Jinja2 templates in ``templates/``)."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from laadplan.api.app import config_of, current_principal, store_for
from laadplan.report.labels import weekday_nl
from laadplan.web import TEMPLATES, data, residents, session, workflow
from laadplan.web.api import client_of, gm_scope, store_key

router = APIRouter(include_in_schema=False)

env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))

WEEKDAYS_LONG = ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag")


def _missing(v: Any) -> bool:
    from jinja2 import Undefined

    return v is None or v is pd.NA or isinstance(v, Undefined) or (isinstance(v, float) and np.isnan(v))


def nl_num(v: Any, decimals: int = 0) -> str:
    if _missing(v):
        return "n.b."
    return workflow.fmt_num_nl(None if v is None or v is pd.NA else v, decimals)


def nl_pct(v: Any, decimals: int = 1) -> str:
    if _missing(v):
        return "n.b."
    return workflow.fmt_num_nl(100 * float(v), decimals) + " %"


def nl_date(v: Any) -> str:
    return workflow.fmt_date_nl(v)


def how_nl(how: int) -> str:
    """Hour-of-week index (0 = maandag 00:00) as 'do 20:00'."""
    from laadplan.kpi.calendar import how_label

    return weekday_nl(how_label(int(how)))


env.filters.update(num=nl_num, pct=nl_pct, date_nl=nl_date, how=how_nl, wd=weekday_nl)

#: definitions of every figure the app shows (anchor -> (name, definition, source))
DEFINITIONS: dict[str, tuple[str, str, str]] = {
    "laadlocaties": ("Laadlocaties", "Publieke laadlocaties in de store (OCPI-locaties), elk met één of meer "
                     "laadpunten.", "tabel locations"),
    "laadpunten": ("Laadpunten (EVSE's)", "Laadpunten in de store, zonder status REMOVED of PLANNED: dezelfde "
                   "telling als laadplan kpi en de voortgangsrapportage.", "tabel evses"),
    "bezetting": ("Gemiddelde bezetting", "Aandeel van de uren dat een laadpunt bezet is (auto aangesloten), "
                  "gemiddeld over de laadpunten en alle uren van de periode. Uit laadsessies (laadplan kpi) of, "
                  "zonder sessies, uit statuswaarnemingen (laadplan kpi --source status).",
                  "laadplan.kpi.usage_kpis / status_occupancy"),
    "piekuur": ("Bezetting in het piekuur van de week", "De hoogste bezetting van de 168 uren van de week "
                "(lokale tijd), bijvoorbeeld 'do 20:00'; per laadlocatie over het venster van de gebruikstrigger "
                "van het plan (placement.trigger_window_days).", "laadplan.kpi.hour_of_week_occupancy"),
    "uurprofiel": ("Bezetting per uur van de week", "Bezetting per lokaal uur van de week (ma 00:00 tot zo "
                   "23:00) over de hele dataperiode.", "laadplan kpi --hour-of-week"),
    "plan": ("Plan-locaties en nieuwe laadpunten", "Het plaatsingsplan van laadplan plan (met de congestieregel): "
             "nieuwe laadpunten per locatie en jaar, met de reden (gebruik, aanvragen, dekking, prognose) en de "
             "netroute (nieuwe of bestaande aansluiting).", "tabel plan_sites"),
    "workflow": ("Status plan-locatie", "voorgesteld → akkoord gemeente (of afgewezen, met reden) → "
                 "verkeersbesluit genomen (datum; bezwaartermijn loopt) → in aanleg → gerealiseerd (automatisch "
                 "zodra in de data een nieuw laadpunt binnen loopafstand verschijnt). Elke wijziging staat in het "
                 "logboek: wie, wanneer, waarom.", "tabel site_events"),
    "realisatie": ("Realisatie plan-locaties", "Aantal plan-locaties per status van de plaatsingsworkflow; "
                   "gerealiseerd van akkoord: gerealiseerde plan-locaties / plan-locaties met akkoord van de gemeente "
                   "of verder; en de dagen van het (laatste) akkoord van de gemeente tot gerealiseerd (mediaan en 90e "
                   "percentiel over de gerealiseerde locaties; n.b. zonder gerealiseerde locaties of zonder "
                   "besluiten). Dezelfde definitie als de concessie-kengetallen en de voortgangsrapportage, daar per "
                   "periode.", "laadplan.contract.sites via laadplan.web.workflow.state_summary (tabel site_events)"),
    "aanvragen": ("Aanvragen van bewoners", "Aanvragen voor een openbaar laadpunt met het besluit volgens de "
                  "regels van laadplan requests.", "tabel requests"),
    "contract": ("Concessie-kengetallen", "Kengetallen van laadplan contract voor de periode (beschikbaarheid, "
                 "storingen, tarieven, doorlooptijden, plaatsing, kosten).", "tabel contract_kpis"),
    "signaleringen": ("Signaleringen", "Normoverschrijdingen die laadplan contract signaleert.", "tabel alerts"),
    "kwaliteit": ("Datakwaliteit per exploitant", "Records in quarantaine (afgekeurd bij inlezen) per partij, "
                  "met de overtreden regels, naast de geaccepteerde locaties, laadpunten en sessies.",
                  "laadplan quality (laadplan.kpi.quality.by_operator)"),
    "dekking": ("Dekkingsgaten", "500 m-cellen (RD) met minstens placement.coverage_min_households huishoudens en "
                "geen openbare laadlocatie in de cel: de dekkingstrigger van het plan (NAL). Zonder CBS-cellen worden "
                "de huishoudens van elke buurt naar oppervlakte over haar cellen verdeeld (benadering).",
                "laadplan.placement.triggers.coverage_trigger"),
    "congestie": ("Netcongestie", "Status afname per voedingsgebied uit de capaciteitskaart van Netbeheer "
                  "Nederland: 0 beschikbaar, 1 beperkt, 2 onderzoek/congestiemanagement, 3 tekort.",
                  "tabel grid_areas"),
}


def render(request: Request, template: str, status: int = 200, **ctx) -> HTMLResponse:
    p = current_principal(request)
    tok, new = session.page_csrf(request)
    cfg = config_of(request)
    html = env.get_template(template).render(
        request=request, principal=p, csrf=tok, region=cfg.region.name, path=request.url.path,
        background=cfg.server.web_background_tiles, geocoder=cfg.server.web_geocoder_url, defs=DEFINITIONS, **ctx)
    r = HTMLResponse(html, status_code=status)
    if new:
        session.set_csrf_cookie(r, request, tok)
    r.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data: blob: https:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; worker-src 'self' blob:; connect-src 'self' https:; frame-ancestors 'none'")
    r.headers["X-Content-Type-Options"] = "nosniff"
    r.headers["Referrer-Policy"] = "same-origin"
    return r


def login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/web/inloggen?terug={request.url.path}", status_code=303)


def gemeente_names(s) -> dict[str, str]:
    a = s.query("SELECT area_code, name FROM areas WHERE level = 'gemeente'")
    return dict(zip(a["area_code"], a["name"]))


# ---- log-in --------------------------------------------------------------------------------------------
@router.get("/web/inloggen", response_class=HTMLResponse)
def login_page(request: Request, terug: str = "/web/") -> HTMLResponse:
    return render(request, "login.html", terug=terug if terug.startswith("/web") else "/web/", fout=None)


@router.post("/web/inloggen")
async def login_post(request: Request) -> Response:
    form = await request.form()
    terug = str(form.get("terug") or "/web/")
    terug = terug if terug.startswith("/web") and "//" not in terug else "/web/"
    if not session.csrf_ok(request, form.get("csrf_token")):
        return render(request, "login.html", 403, terug=terug, fout="De pagina was verlopen; probeer het opnieuw.")
    with store_for(request) as s:
        hit = session.login(s, str(form.get("token") or ""), hours=config_of(request).server.web_session_hours)
    if hit is None:
        return render(request, "login.html", 401, terug=terug, fout="Dit token is onbekend, verlopen of ingetrokken.")
    sid, _, _ = hit
    r = RedirectResponse(terug, status_code=303)
    session.set_session_cookie(r, request, sid, config_of(request).server.web_session_hours)
    return r


@router.post("/web/uitloggen")
async def logout_post(request: Request) -> Response:
    form = await request.form()
    if not session.csrf_ok(request, form.get("csrf_token")):
        return Response("CSRF-token ontbreekt of klopt niet", status_code=403)
    sid = request.cookies.get(session.SESSION_COOKIE)
    if sid:
        with store_for(request) as s:
            session.logout(s, sid)
    r = RedirectResponse("/web/inloggen", status_code=303)
    r.delete_cookie(session.SESSION_COOKIE, path="/")
    return r


# ---- overview and map ---------------------------------------------------------------------------------
@router.get("/web/", response_class=HTMLResponse)
def overview(request: Request) -> Response:
    p = current_principal(request)
    if p is None:
        return login_redirect(request)
    cfg = config_of(request)
    with store_for(request) as s:
        scope = gm_scope(p)
        gm = scope[0] if scope else None
        counts = data.store_counts(s, gm)
        period = data.latest_period(s)
        figs = data.contract_figures(s, period, "gemeente", gm) if gm else data.contract_figures(s, period)
        computed = figs["computed_utc"].max() if len(figs) and "computed_utc" in figs else None
        source = "laadplan contract"
        live = data.live_contract(request.app.state.store, cfg, store_key(request), period) if period else None
        if live is not None and len(live["kpis"]):
            lk = live["kpis"]
            lev, sub = ("gemeente", gm) if gm else ("region", "region")
            figs = lk[(lk["level"] == lev) & (lk["subject_id"] == sub)]
            computed, source = live["computed_utc"], "live"
        _, usage_meta = data.gemeente_usage(s, cfg, store_key(request))
        names = gemeente_names(s)
        n_alerts = len(data.alerts(s, period, gm))
        sites = workflow.sites(s, gm_codes=scope)
    if source == "live" and live is not None and live.get("alerts") is not None:
        la = live["alerts"]
        n_alerts = int(len(la[la["gm_code"] == gm])) if gm and "gm_code" in la else int(len(la))
    states = sites["state"].value_counts().to_dict() if len(sites) else {}
    kp = {r["kpi"]: r for r in data.records(figs)}
    computed_txt = (f"{source}, {nl_date(computed)} {pd.Timestamp(computed).tz_localize('UTC').tz_convert(cfg.region.time_zone):%H:%M}"
                    if computed is not None and not pd.isna(computed) else source)
    return render(request, "overview.html", counts=counts, period=period, kp=kp, usage_meta=usage_meta,
                  computed=computed_txt,
                  names=names, n_alerts=n_alerts, states=states, state_labels=workflow.STATE_LABELS,
                  gm=gm, title="Overzicht")


# ---- gemeente -----------------------------------------------------------------------------------------
def hour_chart(profile: pd.DataFrame) -> Markup:
    """The hour-of-week profile as an inline SVG bar chart (168 bars, day labels) with a text alternative."""
    if profile is None or profile.empty or profile["occupancy_share"].notna().sum() == 0:
        return Markup('<p class="na">Geen bezettingsgegevens per uur (n.b.).</p>')
    v = profile.set_index("how")["occupancy_share"].astype("float64").reindex(range(168))
    top = max(float(np.nanmax(v.to_numpy())), 0.05)
    w, h, pad = 840, 180, 30
    bw = (w - pad) / 168
    bars = []
    for i, x in enumerate(v.to_numpy()):
        if np.isnan(x):
            continue
        bh = (h - 40) * x / top
        bars.append(f'<rect x="{pad + i * bw:.1f}" y="{h - 20 - bh:.1f}" width="{bw * 0.9:.2f}" height="{bh:.1f}" '
                    f'fill="#1f5f8b"><title>{how_nl(i)}: {nl_pct(x)}</title></rect>')
    days = "".join(f'<text x="{pad + (d * 24 + 12) * bw:.0f}" y="{h - 4}" text-anchor="middle" font-size="12" '
                   f'fill="#1a1a1a">{("ma", "di", "wo", "do", "vr", "za", "zo")[d]}</text>' for d in range(7))
    grid = "".join(f'<line x1="{pad + d * 24 * bw:.1f}" x2="{pad + d * 24 * bw:.1f}" y1="10" y2="{h - 20}" '
                   'stroke="#bbb" stroke-width="0.5"/>' for d in range(8))
    peak = int(np.nanargmax(v.to_numpy()))
    lab = (f'<text x="2" y="20" font-size="12" fill="#1a1a1a">{nl_pct(top, 0)}</text>'
           f'<text x="2" y="{h - 20}" font-size="12" fill="#1a1a1a">0</text>')
    desc = f"Bezetting per uur van de week; piek {how_nl(peak)} met {nl_pct(v.iloc[peak])}."
    return Markup(f'<figure class="chart"><svg viewBox="0 0 {w} {h}" role="img" aria-label="{desc}" '
                  f'width="100%">{grid}{"".join(bars)}{days}{lab}</svg><figcaption>{desc}</figcaption></figure>')


@router.get("/web/gemeenten", response_class=HTMLResponse)
def gemeenten_page(request: Request) -> Response:
    p = current_principal(request)
    if p is None:
        return login_redirect(request)
    if p.role == "gemeente":
        return RedirectResponse(f"/web/gemeente/{p.gm_code}", status_code=303)
    cfg = config_of(request)
    with store_for(request) as s:
        fc = data.gemeenten_geojson(s, cfg, store_key(request))
    rows = sorted((f["properties"] for f in fc["features"]), key=lambda r: r.get("name") or "")
    return render(request, "gemeenten.html", rows=rows, meta=fc.get("meta", {}), title="Gemeenten")


@router.get("/web/gemeente/{gm}", response_class=HTMLResponse)
def gemeente_page(gm: str, request: Request) -> Response:
    p = current_principal(request)
    if p is None:
        return login_redirect(request)
    gm = gm.upper()
    if not p.sees_gemeente(gm):
        return render(request, "error.html", 403, title="Geen toegang",
                      message="U heeft geen toegang tot de gegevens van deze gemeente.")
    cfg = config_of(request)
    key = store_key(request)
    with store_for(request) as s:
        names = gemeente_names(s)
        if gm not in names and not s.count("plan_sites", "gm_code = ?", [gm]):
            return render(request, "error.html", 404, title="Onbekende gemeente", message=f"Gemeente {gm} is onbekend.")
        counts = data.store_counts(s, gm)
        u, meta = data.gemeente_usage(s, cfg, key)
        urow = data.records(u[u["gm_code"] == gm])
        prof, _ = data.gemeente_profile(s, cfg, key, gm)
        period = data.latest_period(s)
        kp = {r["kpi"]: r for r in data.records(data.contract_figures(s, period, "gemeente", gm))}
        al = data.records(data.alerts(s, period, gm).head(50))
        workflow.match_realised(s, cfg)
        sites = workflow.sites(s, gm_codes=[gm])
        summary = workflow.state_summary(s, [gm])
        reqs = s.query("SELECT request_id, requested_date, decision, decision_rule, operational_date, source "
                       "FROM requests WHERE gm_code = ? ORDER BY requested_date DESC LIMIT 200", [gm])
    may_change = p.role in ("region",) or (p.role == "gemeente" and p.gm_code == gm)
    return render(request, "gemeente.html", gm=gm, name=names.get(gm, gm), counts=counts,
                  usage=urow[0] if urow else {}, meta=meta, chart=hour_chart(prof), period=period, kp=kp,
                  alerts=al, sites=data.records(sites.drop(columns=["known_evses"])), requests=data.records(reqs),
                  rules_nl=residents.RULES_NL, decision_nl=residents.DECISION_NL, may_change=may_change,
                  transitions=workflow.TRANSITIONS, state_labels=workflow.STATE_LABELS,
                  today=date.today().isoformat(), summary=summary, title=f"Gemeente {names.get(gm, gm)}")


@router.post("/web/gemeente/{gm}/locatie/{site_id}")
async def site_form(gm: str, site_id: str, request: Request) -> Response:
    """The state form of the gemeente page (a plain HTML form; answers with a redirect and a message)."""
    from urllib.parse import quote

    p = current_principal(request)
    if p is None:
        return login_redirect(request)
    form = await request.form()
    back = f"/web/gemeente/{gm.upper()}"
    if not session.csrf_ok(request, form.get("csrf_token")):
        return Response("CSRF-token ontbreekt of klopt niet; laad de pagina opnieuw", status_code=403)
    dd = None
    if form.get("decision_date"):
        try:
            dd = date.fromisoformat(str(form.get("decision_date")))
        except ValueError:
            return RedirectResponse(back + "?fout=" + quote("datum: JJJJ-MM-DD"), status_code=303)
    with store_for(request) as s:
        one = workflow.sites(s, site_id=site_id)
        if one.empty or (gm_scope(p) is not None and one["gm_code"].iloc[0] not in gm_scope(p)):
            return render(request, "error.html", 403, title="Geen toegang",
                          message="Deze plan-locatie ligt niet in uw gemeente.")
        try:
            workflow.transition(s, config_of(request), site_id, str(form.get("state") or ""), p,
                                reason=str(form.get("reason") or ""), decision_date=dd)
        except workflow.Forbidden as e:
            return render(request, "error.html", 403, title="Geen toegang", message=str(e))
        except workflow.WorkflowError as e:
            return RedirectResponse(back + "?fout=" + quote(f"{site_id}: {e}") + "#planlocaties", status_code=303)
    new = workflow.STATE_LABELS[str(form.get("state"))]
    return RedirectResponse(back + "?melding=" + quote(f"{site_id}: status is nu '{new}'") + "#planlocaties",
                            status_code=303)


@router.get("/web/gemeente/{gm}/logboek", response_class=HTMLResponse)
def log_page(gm: str, request: Request) -> Response:
    p = current_principal(request)
    if p is None:
        return login_redirect(request)
    gm = gm.upper()
    if not p.sees_gemeente(gm):
        return render(request, "error.html", 403, title="Geen toegang",
                      message="U heeft geen toegang tot de gegevens van deze gemeente.")
    with store_for(request) as s:
        ev = workflow.events(s, gm_codes=[gm])
        names = gemeente_names(s)
    return render(request, "log.html", name=names.get(gm, gm), events=data.records(ev.drop(columns=["known_evses"])),
                  state_labels=workflow.STATE_LABELS, title=f"Logboek {names.get(gm, gm)}")


# ---- data quality, contract --------------------------------------------------------------------------
@router.get("/web/kwaliteit", response_class=HTMLResponse)
def quality_page(request: Request) -> Response:
    p = current_principal(request)
    if p is None:
        return login_redirect(request)
    with store_for(request) as s:
        q = data.records(data.quality_by_operator(s))
        runs = s.query("SELECT min(started_utc) AS a, max(finished_utc) AS b FROM ingest_runs").iloc[0]
    return render(request, "quality.html", rows=q, runs=data.records(pd.DataFrame([runs]))[0],
                  title="Datakwaliteit per exploitant")


@router.get("/web/contract", response_class=HTMLResponse)
def contract_page(request: Request) -> Response:
    p = current_principal(request)
    if p is None:
        return login_redirect(request)
    from laadplan.contract.run import KPI_LABELS

    with store_for(request) as s:
        period = data.latest_period(s)
        figs = data.records(data.contract_figures(s, period))
        scope = gm_scope(p)
        al = data.records(data.alerts(s, period, scope[0] if scope else None).head(100))
        agreed = workflow.agreed_sites(s)
        summary = workflow.state_summary(s, scope)
    if scope is not None:
        agreed = agreed[agreed["gm_code"].isin(scope)]
    return render(request, "contract.html", period=period, figs=figs, labels=KPI_LABELS, alerts=al,
                  n_agreed=len(agreed), summary=summary, state_labels=workflow.STATE_LABELS, title="Contractbeheer")


@router.get("/web/definities", response_class=HTMLResponse)
def definitions_page(request: Request) -> Response:
    return render(request, "definitions.html", title="Definities")


# ---- residents ----------------------------------------------------------------------------------------
@router.get("/web/aanvragen", response_class=HTMLResponse)
def request_page(request: Request) -> Response:
    return render(request, "request.html", title="Laadpaal aanvragen", result=None, fout=None, form={})


@router.post("/web/aanvragen", response_class=HTMLResponse)
async def request_post(request: Request) -> Response:
    form = {k: v for k, v in (await request.form()).items()}
    if not session.csrf_ok(request, form.get("csrf_token")):
        return render(request, "request.html", 403, title="Laadpaal aanvragen", result=None, form=form,
                      fout="De pagina was verlopen; probeer het opnieuw.")
    with store_for(request) as s:
        try:
            res = residents.submit(s, config_of(request), form, client_of(request), cache_key=store_key(request))
        except residents.RateLimited as e:
            return render(request, "request.html", 429, title="Laadpaal aanvragen", result=None, form=form, fout=str(e))
        except residents.RequestError as e:
            return render(request, "request.html", 422, title="Laadpaal aanvragen", result=None, form=form, fout=str(e))
    data.clear_cache()
    return render(request, "request.html", title="Laadpaal aanvragen", result=res, fout=None, form={})


# ---- the plan's reasons in Dutch -------------------------------------------------------------------------
_NL_PHRASES = [
    (r"usage: (\d+) location\(s\) with (\d+) EVSE\(s\) within (\d+) m of location ([^:]+):",
     r"gebruik: \1 locatie(s) met \2 laadpunt(en) binnen \3 m van locatie \4:"),
    (r"peak-hour-of-week occupancy", "bezetting piekuur van de week"),
    (r"mean occupancy", "gemiddelde bezetting"),
    (r"kWh per EVSE per day", "kWh per laadpunt per dag"),
    (r"(\d+) busy location\(s\) in the cluster", r"\1 drukke locatie(s) in het cluster"),
    (r"\(upper bound: EVSE-weighted mean of the locations' peaks, no hour-of-week profile\)",
     "(bovengrens: gewogen gemiddelde van de pieken, geen uurprofiel)"),
    (r"request (\S+) granted:", r"aanvraag \1 toegekend:"),
    (r"all (\d+) public location\(s\) within (\d+) m are too busy", r"alle \1 openbare locatie(s) binnen \2 m zijn te druk"),
    (r"no public charge point within (\d+) m", r"geen openbaar laadpunt binnen \1 m"),
    (r"nearest at (\d+) m", r"dichtstbijzijnde op \1 m"),
    (r"none within (\d+) m", r"geen binnen \1 m"),
    (r"coverage: cell (\S+) has about (\d+) households \(>= (\d+)\) and no public charge point",
     r"dekking: cel \1 heeft ongeveer \2 huishoudens (≥ \3) en geen openbaar laadpunt"),
    (r"forecast \(low\)", "prognose (laag)"), (r"forecast \(middle\)", "prognose (midden)"),
    (r"forecast \(high\)", "prognose (hoog)"),
    (r"need in (\S+) grows by ([\d.]+) EVSE\(s\) in (\d{4}) beyond supply",
     r"behoefte in \1 groeit in \3 met \2 laadpunt(en) boven het aanbod"),
    (r"([\d.]+) of it at this spot \(one of (\d+) cells?, chosen by households\)",
     r"\1 daarvan op deze plek (een van \2 cellen, gekozen naar huishoudens)"),
    (r"([\d.]+) of it at this spot", r"\1 daarvan op deze plek"),
    (r" >= ", " ≥ "),
]


def plan_reason_nl(text: Any) -> str:
    """The plan's reason text (English, from laadplan.placement.triggers) in Dutch, pattern by pattern;
    a part without a known pattern stays as it is."""
    import re

    if not isinstance(text, str) or not text:
        return ""
    out = weekday_nl(text)
    for pat, rep in _NL_PHRASES:
        out = re.sub(pat, rep, out)
    out = re.sub(r"(\d+)\.(\d+) (%|≥|daarvan|laadpunt)", r"\1,\2 \3", out)
    return out.replace(" | ", " · ")


env.filters["reason_nl"] = plan_reason_nl
