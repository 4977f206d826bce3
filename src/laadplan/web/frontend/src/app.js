// Page scripts of the laadplan web app: the region map, the gemeente map (moving a proposed site) and the
// map of the residents' form. MapLibre GL JS is bundled in (no CDN; works offline).
import maplibregl from "maplibre-gl";

const CSRF = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
const nlNum = (v, d = 0) => (v === null || v === undefined || Number.isNaN(v)) ? "n.b." :
  Number(v).toLocaleString("nl-NL", { minimumFractionDigits: d, maximumFractionDigits: d });
const nlPct = (v, d = 1) => (v === null || v === undefined) ? "n.b." : nlNum(100 * v, d) + " %";
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const STATE_NL = { voorgesteld: "voorgesteld", akkoord_gemeente: "akkoord gemeente", afgewezen: "afgewezen",
  verkeersbesluit_genomen: "verkeersbesluit genomen", in_aanleg: "in aanleg", gerealiseerd: "gerealiseerd" };
const OCC_COLOR = ["case", ["!", ["has", "o"]], "#6b6b6b", [">=", ["get", "o"], 85], "#c62828",
  [">=", ["get", "o"], 50], "#b8860b", "#1a7f37"];
const YEAR_COLORS = ["#3b1c8c", "#1f5f8b", "#0f7b6c", "#5c8a00", "#b35900", "#8e1b5a"];

function baseStyle(background) {
  const style = { version: 8, sources: {}, layers: [{ id: "bg", type: "background", paint: { "background-color": "#f3f1ec" } }] };
  if (background) {
    style.sources.brt = { type: "raster", tiles: [background], tileSize: 256, attribution: "Kaart: PDOK / Kadaster" };
    style.layers.push({ id: "brt", type: "raster", source: "brt" });
  }
  return style;
}

function boundsOf(fc) {
  let b = null;
  const add = (c) => {
    if (typeof c[0] === "number") { b = b ? [[Math.min(b[0][0], c[0]), Math.min(b[0][1], c[1])], [Math.max(b[1][0], c[0]), Math.max(b[1][1], c[1])]] : [[c[0], c[1]], [c[0], c[1]]]; }
    else c.forEach(add);
  };
  (fc.features || []).forEach((f) => f.geometry && add(f.geometry.coordinates));
  return b;
}

async function getJSON(url) {
  const r = await fetch(url, { credentials: "same-origin" });
  if (!r.ok) throw new Error(url + ": " + r.status);
  return r.json();
}

function newMap(el, opts = {}) {
  const map = new maplibregl.Map({ container: el, style: baseStyle(el.dataset.background), center: [4.3, 51.85], zoom: 7.6,
    attributionControl: { compact: true }, ...opts });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  map.keyboard.enable();
  return map;
}

// ---- the region map ---------------------------------------------------------------------------------
function regionMap(el) {
  const t0 = performance.now();
  const map = newMap(el);
  window.lpMap = map;
  const info = document.getElementById("info");
  const gmOnly = el.dataset.gm || null;
  const layersOf = { locations: ["locations"], gemeenten: ["gemeenten-fill", "gemeenten-line"], buurten: ["buurten-line"],
    congestion: ["congestion-fill"], coverage: ["coverage-fill"], plan: ["plan"], requests: ["requests"], corridors: ["corridors"], hubs: ["hubs"] };
  const loaded = {};
  window.lpLayers = loaded;
  map.on("load", async () => {
    window.lpMapLoadMs = performance.now();
    // the charge points first (vector tiles from the store); every other layer is fetched in parallel and
    // drawn beneath or above them
    map.addSource("locations", { type: "vector", tiles: [location.origin + "/web/tiles/locations/{z}/{x}/{y}.pbf"], maxzoom: 14 });
    map.addLayer({ id: "locations", type: "circle", source: "locations", "source-layer": "locations", paint: {
      "circle-radius": ["interpolate", ["linear"], ["zoom"], 7, 1.6, 12, 4, 15, 7], "circle-color": OCC_COLOR,
      "circle-stroke-width": ["interpolate", ["linear"], ["zoom"], 9, 0, 12, 0.6], "circle-stroke-color": "#fff" } });
    loaded.locations = "tegels";
    const onData = (e) => {
      if (e.sourceId === "locations" && e.isSourceLoaded && e.tile !== undefined) {
        map.off("sourcedata", onData);
        map.once("render", () => { window.lpLocationsMs = performance.now(); });
        map.triggerRepaint();
      }
    };
    map.on("sourcedata", onData);
    const names = ["gemeenten", "congestion", "coverage", "buurten", "corridors", "hubs", "requests", "plan"];
    const fcs = await Promise.all(names.map((n) => getJSON(`/web/api/layers/${n}.geojson`).catch(() => null)));
    const F = {};
    names.forEach((n, i) => {
      F[n] = fcs[i];
      loaded[n] = fcs[i] ? (fcs[i].features || []).length : "fout";
      if (fcs[i]) map.addSource(n, { type: "geojson", data: fcs[i] });
    });
    const below = "locations";
    if (F.gemeenten) {
      map.addLayer({ id: "gemeenten-fill", type: "fill", source: "gemeenten", paint: { "fill-color": ["case",
        ["==", ["get", "mean_occupancy_share"], null], "#ffffff", ["interpolate", ["linear"], ["get", "mean_occupancy_share"], 0, "#f7fbff", 0.3, "#6baed6", 0.6, "#08306b"]], "fill-opacity": 0.25 } }, below);
      map.addLayer({ id: "gemeenten-line", type: "line", source: "gemeenten", paint: { "line-color": "#555", "line-width": 0.8 } }, below);
      let fc = F.gemeenten;
      if (gmOnly) fc = { features: fc.features.filter((f) => f.properties.gm_code === gmOnly) };
      const b = boundsOf(fc);
      if (b) map.fitBounds(b, { padding: 20, duration: 0 });
    }
    if (F.congestion) map.addLayer({ id: "congestion-fill", type: "fill", source: "congestion", paint: { "fill-color": ["match", ["get", "offtake_status"], 3, "#c62828", 2, "#e07b00", 1, "#f2c200", "#9e9e9e"], "fill-opacity": ["match", ["get", "offtake_status"], 3, 0.3, 2, 0.25, 1, 0.15, 0] } }, below);
    if (F.coverage) map.addLayer({ id: "coverage-fill", type: "fill", source: "coverage", paint: { "fill-color": "#6a1b9a", "fill-opacity": 0.35, "fill-outline-color": "#4a148c" } }, below);
    if (F.buurten) map.addLayer({ id: "buurten-line", type: "line", source: "buurten", layout: { visibility: "none" }, paint: { "line-color": "#888", "line-width": 0.4 } }, below);
    if (F.corridors) map.addLayer({ id: "corridors", type: "line", source: "corridors", paint: { "line-color": ["case", ["==", ["get", "compliant"], false], "#c62828", "#4a148c"], "line-width": 2.5, "line-opacity": 0.8 } });
    if (F.hubs) map.addLayer({ id: "hubs", type: "circle", source: "hubs", paint: { "circle-radius": 6, "circle-color": "#4a148c", "circle-stroke-color": "#fff", "circle-stroke-width": 1.5 } });
    if (F.requests) map.addLayer({ id: "requests", type: "circle", source: "requests", paint: { "circle-radius": 3.5, "circle-color": ["match", ["get", "decision"], "granted", "#0b6e99", "refused", "#8d6e63", "#bdbdbd"], "circle-stroke-color": "#000", "circle-stroke-width": 0.5 } });
    const pl = F.plan;
    if (pl) {
      const years = [...new Set(pl.features.map((f) => f.properties.year))].sort();
      const col = ["match", ["get", "year"]];
      years.forEach((y, i) => col.push(y, YEAR_COLORS[i % YEAR_COLORS.length]));
      col.push("#333");
      map.addLayer({ id: "plan", type: "circle", source: "plan", paint: { "circle-radius": ["interpolate", ["linear"], ["zoom"], 7, 2.5, 13, 7],
        "circle-color": years.length ? col : "#333", "circle-stroke-color": ["match", ["get", "state"], "afgewezen", "#c62828", "akkoord_gemeente", "#1a7f37", "gerealiseerd", "#000", "#fff"],
        "circle-stroke-width": 1.5 } });
    }
    document.querySelectorAll("input[data-layer]").forEach((cb) => {
      const apply = () => (layersOf[cb.dataset.layer] || []).forEach((id) => map.getLayer(id) && map.setLayoutProperty(id, "visibility", cb.checked ? "visible" : "none"));
      cb.addEventListener("change", apply);
      apply();
    });
    map.once("idle", () => { window.lpFirstRender = performance.now(); window.lpMapMs = performance.now() - t0; el.dataset.ready = "ja"; });
  });
  const show = (html) => { info.innerHTML = html; };
  map.on("click", async (e) => {
    const pad = 4;
    const box = [[e.point.x - pad, e.point.y - pad], [e.point.x + pad, e.point.y + pad]];
    const order = ["plan", "hubs", "requests", "locations", "corridors", "coverage-fill", "congestion-fill", "gemeenten-fill"].filter((id) => map.getLayer(id) && map.getLayoutProperty(id, "visibility") !== "none");
    const f = map.queryRenderedFeatures(box, { layers: order });
    if (!f.length) return;
    const top = f.sort((a, b) => order.indexOf(a.layer.id) - order.indexOf(b.layer.id))[0];
    const p = top.properties;
    if (top.layer.id === "locations") {
      try {
        const d = await getJSON("/web/api/locations/detail?id=" + encodeURIComponent(top.id));
        show(`<h3>Laadlocatie</h3><p><strong>${esc(d.name || d.key)}</strong><br>Gemeente ${esc(d.gm_code || "n.b.")}</p>
          <p>Laadpunten: ${nlNum(d.n_evses)}${d.has_dc ? " (snellader)" : ""}<br>Bezetting piekuur van de week: ${nlPct(d.peak_how_occupancy_share)}
          <br><small>laatste ${d.period_days} dagen met data (${d.occupancy_source === "sessions" ? "laadsessies" : d.occupancy_source === "status" ? "statuswaarnemingen" : "geen bezettingsdata"}) · <a href="/web/definities#piekuur">definitie</a></small></p>`);
      } catch (err) { show("<p>Geen gegevens.</p>"); }
    } else if (top.layer.id === "gemeenten-fill") {
      show(`<h3>${esc(p.name)}</h3><p>Laadlocaties: ${nlNum(p.locations)}<br>Laadpunten: ${nlNum(p.evses)}<br>Gemiddelde bezetting: ${nlPct(p.mean_occupancy_share)}<br>Nieuwe laadpunten in het plan: ${nlNum(p.plan_evses)}</p>
        <p><a class="button" href="/web/gemeente/${encodeURIComponent(p.gm_code)}">Naar de pagina van ${esc(p.name)}</a></p>`);
    } else if (top.layer.id === "plan") {
      try {
        const d = (await getJSON("/web/api/sites/" + encodeURIComponent(p.site_id))).site;
        show(`<h3>Plan-locatie ${esc(d.site_id)}</h3><p>Jaar ${esc(d.year)} · ${nlNum(d.evses)} laadpunten<br>Status: <strong>${esc(STATE_NL[d.state] || d.state)}</strong>${d.reason ? " (" + esc(d.reason) + ")" : ""}<br>
          Netroute: ${d.grid_route === "existing_connection" ? "bestaande aansluiting" : "nieuwe aansluiting"}<br>Reden in het plan: ${esc(d.reasons_nl || "")}</p>
          <p><a href="/web/gemeente/${encodeURIComponent(d.gm_code)}#planlocaties">Naar de gemeentepagina</a> · <a href="/web/definities#plan">definitie</a></p>`);
      } catch (err) { show("<p>Geen toegang tot deze plan-locatie.</p>"); }
    } else if (top.layer.id === "requests") {
      show(`<h3>Aanvraag bewoner</h3><p>Besluit: ${p.decision === "granted" ? "toegekend" : p.decision === "refused" ? "afgewezen" : "niet besloten"}<br>Regel: ${esc(p.decision_rule)}<br>Jaar ${esc(p.year)}</p><p><small>Zonder persoonsgegevens; plek afgerond op circa 100 m.</small></p>`);
    } else if (top.layer.id === "congestion-fill") {
      show(`<h3>Voedingsgebied ${esc(p.name || p.area_code)}</h3><p>Status afname: ${esc(p.offtake_status)} (<a href="/web/definities#congestie">definitie</a>)<br>Beschikbaar: ${nlNum(p.demand_available_mw, 1)} MW</p>`);
    } else if (top.layer.id === "coverage-fill") {
      show(`<h3>Dekkingsgat</h3><p>Cel ${esc(p.cell500_code)} (500 m), ${esc(p.gm_code || "")}<br>Ongeveer ${nlNum(p.households)} huishoudens en geen openbaar laadpunt in de cel<br><small>dekkingstrigger van het plan · <a href="/web/definities#dekking">definitie</a></small></p>`);
    } else if (top.layer.id === "corridors") {
      show(`<h3>Corridor ${esc(p.ref || p.corridor_id || "")}</h3><p>AFIR: ${p.compliant === false ? "niet op orde" : p.compliant === true ? "op orde" : "n.b."}${p.longest_gap_km != null ? "<br>Grootste gat: " + nlNum(p.longest_gap_km, 1) + " km" : ""}</p>`);
    } else if (top.layer.id === "hubs") {
      show(`<h3>Laadhub ${esc(p.name || "")}</h3><p>${esc(p.kind || "")}<br>Nodig: ${nlNum(p.needed_kw)} kW, ${nlNum(p.needed_stations)} laders</p>`);
    }
  });
  map.on("mousemove", (e) => {
    const ids = ["plan", "locations", "gemeenten-fill"].filter((id) => map.getLayer(id));
    map.getCanvas().style.cursor = map.queryRenderedFeatures(e.point, { layers: ids }).length ? "pointer" : "";
  });
}

// ---- the gemeente map: plan sites, moving a proposed one -------------------------------------------------
function siteMap(el) {
  const map = newMap(el);
  window.lpSiteMap = map;
  const gm = el.dataset.gm;
  const editable = !!el.dataset.editable;
  const out = document.getElementById("movecheck");
  map.on("load", async () => {
    map.addSource("locations", { type: "vector", tiles: [location.origin + "/web/tiles/locations/{z}/{x}/{y}.pbf"], maxzoom: 14 });
    map.addLayer({ id: "locations", type: "circle", source: "locations", "source-layer": "locations", paint: { "circle-radius": 3, "circle-color": OCC_COLOR } });
    const gmfc = await getJSON("/web/api/layers/gemeenten.geojson");
    const own = { type: "FeatureCollection", features: gmfc.features.filter((f) => f.properties.gm_code === gm) };
    map.addSource("gm", { type: "geojson", data: own });
    map.addLayer({ id: "gm", type: "line", source: "gm", paint: { "line-color": "#333", "line-width": 1.5 } });
    const b = boundsOf(own);
    const plan = await getJSON("/web/api/layers/plan.geojson");
    const pb = boundsOf(plan);
    if (b || pb) map.fitBounds(b || pb, { padding: 20, duration: 0 });
    for (const f of plan.features) {
      const p = f.properties;
      const movable = editable && p.state === "voorgesteld";
      const dot = document.createElement("button");
      dot.type = "button";
      dot.className = "site-dot state-" + p.state + (movable ? " movable" : "");
      dot.setAttribute("aria-label", `Plan-locatie ${p.site_id}, ${STATE_NL[p.state]}${movable ? ", versleepbaar" : ""}`);
      const m = new maplibregl.Marker({ element: dot, draggable: movable }).setLngLat(f.geometry.coordinates).addTo(map);
      if (!movable) continue;
      const home = f.geometry.coordinates;
      markers[p.site_id] = { m, home };
      m.on("dragend", () => { const ll = m.getLngLat(); checkMove(p.site_id, ll.lat, ll.lng); });
    }
    el.dataset.ready = "ja";
  });
  const markers = {};
  window.lpMarkers = markers;
  async function checkMove(siteId, lat, lon) {
    const mk = markers[siteId];
    out.innerHTML = `<p>Controleren…</p>`;
    const t = performance.now();
    const r = await fetch(`/web/api/sites/${encodeURIComponent(siteId)}/check?lat=${lat}&lon=${lon}`, { credentials: "same-origin" });
    const d = await r.json();
    window.lpLastCheckMs = performance.now() - t;
    if (!r.ok) { out.innerHTML = `<p class="error" role="alert">${esc(d.detail)}</p>`; if (mk) mk.m.setLngLat(mk.home); return; }
    if (mk) mk.m.setLngLat([lon, lat]);
    const li = d.checks.map((c) => `<li class="${c.ok ? "ok" : "bad"}">${c.ok ? "✔" : "✖"} ${esc(c.text)}</li>`).join("");
    out.innerHTML = `<div class="card"><h3>Nieuwe plek voor ${esc(siteId)}: ${d.ok ? "voldoet" : "voldoet niet"}</h3><ul class="checks">${li}</ul>
      ${d.ok ? `<label for="mv-reason">Reden van de verplaatsing</label><input id="mv-reason" value="verplaatst op de kaart"> <button type="button" id="mv-save" class="primary">Verplaatsing opslaan</button>` : ""}
      <button type="button" id="mv-undo">Terugzetten</button></div>`;
    document.getElementById("mv-undo").onclick = () => { if (mk) mk.m.setLngLat(mk.home); out.innerHTML = ""; };
    const save = document.getElementById("mv-save");
    if (save) save.onclick = async () => {
      const rs = await fetch(`/web/api/sites/${encodeURIComponent(siteId)}/move`, { method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF() },
        body: JSON.stringify({ lat, lon, reason: document.getElementById("mv-reason").value }) });
      const ds = await rs.json();
      if (rs.ok && ds.saved && mk) mk.home = [lon, lat];
      out.innerHTML = rs.ok && ds.saved ? `<p class="notice" role="status">${esc(siteId)} is verplaatst.</p>` : `<p class="error" role="alert">${esc(ds.detail || "niet opgeslagen")}</p>`;
    };
  }
  const form = document.getElementById("moveform");
  if (form) {
    const sel = document.getElementById("mv-site"), la = document.getElementById("mv-lat"), lo = document.getElementById("mv-lon");
    const fill = () => { const o = sel.selectedOptions[0]; if (o) { la.value = o.dataset.lat; lo.value = o.dataset.lon; } };
    sel.addEventListener("change", fill);
    fill();
    form.addEventListener("submit", (e) => { e.preventDefault(); checkMove(sel.value, Number(la.value), Number(lo.value)); });
  }
}

// ---- the residents' form map -----------------------------------------------------------------------------
function requestMap(el) {
  const map = newMap(el);
  window.lpReqMap = map;
  let marker = null;
  const lat = document.getElementById("lat"), lon = document.getElementById("lon");
  const place = (ll) => {
    if (!marker) marker = new maplibregl.Marker({ color: "#0b5394" }).setLngLat(ll).addTo(map); else marker.setLngLat(ll);
  };
  map.on("load", async () => {
    map.addSource("locations", { type: "vector", tiles: [location.origin + "/web/tiles/locations/{z}/{x}/{y}.pbf"], maxzoom: 14 });
    map.addLayer({ id: "locations", type: "circle", source: "locations", "source-layer": "locations", paint: { "circle-radius": ["interpolate", ["linear"], ["zoom"], 7, 1.5, 14, 5], "circle-color": "#1f5f8b" } });
    try {
      const gm = await getJSON("/web/api/layers/gemeenten.geojson");
      map.addSource("gm", { type: "geojson", data: gm });
      map.addLayer({ id: "gm", type: "line", source: "gm", paint: { "line-color": "#666", "line-width": 0.7 } });
      const b = boundsOf(gm);
      if (b) map.fitBounds(b, { padding: 10, duration: 0 });
    } catch (e) { /* no areas: the default view */ }
    if (lat.value && lon.value) place([Number(lon.value), Number(lat.value)]);
    el.dataset.ready = "ja";
  });
  map.on("click", (e) => {
    lat.value = e.lngLat.lat.toFixed(6);
    lon.value = e.lngLat.lng.toFixed(6);
    place(e.lngLat);
  });
  const btn = document.getElementById("zoekknop");
  if (btn) btn.onclick = async () => {
    const q = document.getElementById("zoek");
    try {
      const d = await (await fetch(q.dataset.geocoder + "?rows=1&fq=type:adres&q=" + encodeURIComponent(q.value))).json();
      const doc = d.response.docs[0];
      const m = /POINT\(([-\d.]+) ([-\d.]+)\)/.exec(doc.centroide_ll);
      lon.value = Number(m[1]).toFixed(6); lat.value = Number(m[2]).toFixed(6);
      place([Number(m[1]), Number(m[2])]);
      map.flyTo({ center: [Number(m[1]), Number(m[2])], zoom: 16 });
    } catch (e) { alert("Adres niet gevonden; klik op de kaart."); }
  };
}

document.addEventListener("DOMContentLoaded", () => {
  const m = document.getElementById("map");
  if (m) regionMap(m);
  const s = document.getElementById("sitemap");
  if (s) siteMap(s);
  const r = document.getElementById("reqmap");
  if (r) requestMap(r);
});
