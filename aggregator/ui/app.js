// The dashboard: map, areas, trends, where more are needed, suppliers. Plain browser
// JavaScript, no build step; everything it reads comes from this server's open API
// (spec/openapi/aggregator.json, tag "dashboard").
"use strict";

(() => {
  const reduced = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  const $ = (id) => document.getElementById(id);
  const fmt = new Intl.NumberFormat("en-GB");
  const num = (x, digits = 0) =>
    x == null ? "–" : x.toLocaleString("en-GB", { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const pct = (x, digits = 0) => (x == null ? "–" : `${num(x * 100, digits)} %`);
  const esc = (s) =>
    String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const POWER = ["Slow", "Fast", "Rapid", "Ultra-rapid"];
  const STATUS_WORDS = {
    AVAILABLE: "Available", BLOCKED: "Blocked", CHARGING: "In use", INOPERATIVE: "Inoperative",
    OUTOFORDER: "Out of order", PLANNED: "Planned", REMOVED: "Removed", RESERVED: "Reserved", UNKNOWN: "Unknown",
  };
  const SHAPES = {
    available: '<circle cx="11" cy="11" r="8" class="st-available"/>',
    busy: '<rect x="3" y="3" width="16" height="16" class="st-busy"/>',
    fault: '<path d="M11 2 20 19 2 19Z" class="st-fault"/>',
    unknown: '<path d="M11 2 20 11 11 20 2 11Z" class="st-unknown"/>',
  };
  const CLASS_WORDS = { available: "available", busy: "in use", fault: "out of order", unknown: "status unknown" };

  async function getJson(url) {
    const res = await fetch(url, { headers: { Accept: "application/json" } });
    if (!res.ok) {
      let detail = res.statusText;
      try { detail = (await res.json()).detail || detail; } catch (_) { /* not JSON */ }
      throw new Error(`${url}: ${detail}`);
    }
    return res.json();
  }

  const state = {
    config: null,
    points: null, // the compact document
    etag: null,
    byKey: new Map(), // "CC*PID/id" -> location index
    areas: null, // rows of /v1/london/areas
    filter: { borough: "", ward: "", operator: "", power: new Set([0, 1, 2, 3]), standard: "", status: "", text: "" },
    index: null,
    map: null,
    markers: null,
    ready: false,
  };
  window.evfedDashboard = state;

  // ---------------------------------------------------------------- views
  const VIEWS = ["map", "areas", "trends", "needs", "suppliers"];
  function showView() {
    const [name, arg] = (location.hash.replace(/^#/, "") || "map").split("/");
    const view = VIEWS.includes(name) ? name : "map";
    for (const v of VIEWS) $(`view-${v}`).hidden = v !== view;
    for (const a of document.querySelectorAll(".tabs a")) {
      if (a.dataset.view === view) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    document.title = `${document.querySelector(`.tabs a[data-view="${view}"]`).textContent} · ${state.config ? state.config.title : "Chargepoints"}`;
    if (view === "map" && state.map) state.map.invalidateSize();
    if (view === "areas") renderAreas(arg ? decodeURIComponent(arg) : "");
    if (view === "trends") loadTrends();
    if (view === "needs") loadNeeds();
    if (view === "suppliers") loadSuppliers();
  }

  // ---------------------------------------------------------------- data
  function key(loc) { return `${state.points.operators[loc[0]].party}/${loc[1]}`; }

  function locClass(evses) {
    // The location's marker: available if any EVSE is, else in use, else out of order.
    const st = evses.map((e) => state.points.statuses[e[1]]);
    if (st.includes("AVAILABLE")) return "available";
    if (st.some((s) => s === "CHARGING" || s === "BLOCKED" || s === "RESERVED")) return "busy";
    if (st.some((s) => s === "OUTOFORDER" || s === "INOPERATIVE")) return "fault";
    return "unknown";
  }

  function powerClass(kw) { return kw < 8 ? 0 : kw < 50 ? 1 : kw < 150 ? 2 : 3; }

  // EVSEs of a location that pass the filters (the location shows when any does).
  function matchingEvses(loc) {
    const f = state.filter, p = state.points;
    if (f.operator && String(loc[0]) !== f.operator) return [];
    if (f.borough && String(loc[4]) !== f.borough) return [];
    if (f.ward && String(loc[5]) !== f.ward) return [];
    if (f.text) {
      const hay = `${loc[6]} ${loc[7]} ${loc[8]} ${loc[1]}`.toLowerCase();
      if (!f.text.split(/\s+/).every((w) => hay.includes(w))) return [];
    }
    return loc[10].filter((e) =>
      f.power.has(powerClass(e[2])) &&
      (!f.status || p.statuses[e[1]] === f.status) &&
      (!f.standard || (e[3] & (1 << Number(f.standard))) !== 0));
  }

  function filtered() {
    const out = [];
    let evses = 0, available = 0;
    state.points.locations.forEach((loc, i) => {
      const m = matchingEvses(loc);
      if (m.length === 0) return;
      out.push({ i, evses: m });
      evses += m.length;
      available += m.filter((e) => state.points.statuses[e[1]] === "AVAILABLE").length;
    });
    return { list: out, evses, available };
  }

  async function loadPoints() {
    const res = await fetch("/v1/london/map/points", { headers: state.etag ? { "If-None-Match": state.etag } : {} });
    if (res.status === 304) return false;
    if (!res.ok) throw new Error(`map points: ${res.status}`);
    state.etag = res.headers.get("ETag");
    state.points = await res.json();
    state.byKey = new Map(state.points.locations.map((loc, i) => [key(loc), i]));
    return true;
  }

  // ---------------------------------------------------------------- map
  function initMap(boundaries) {
    const map = L.map("map", {
      preferCanvas: true, zoomControl: true, attributionControl: true,
      zoomAnimation: !reduced, fadeAnimation: !reduced, markerZoomAnimation: !reduced, inertia: !reduced,
      minZoom: 8, maxZoom: 18,
    });
    state.map = map;
    if (state.config.tile_url) {
      L.tileLayer(state.config.tile_url, { attribution: esc(state.config.tile_attribution || ""), maxZoom: 19 }).addTo(map);
    }
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution(`Boundaries: ${esc(state.config.area_set)} area set (credits below)`);
    const authorities = { type: "FeatureCollection", features: boundaries.features.filter((f) => f.properties.level === "authority") };
    const wards = { type: "FeatureCollection", features: boundaries.features.filter((f) => f.properties.level === "ward") };
    const renderer = L.canvas({ padding: 0.2 });
    const wardLayer = L.geoJSON(wards, {
      renderer, interactive: false,
      style: { color: "#7d8793", weight: 0.6, fill: false },
    });
    const boroughLayer = L.geoJSON(authorities, {
      renderer, interactive: false,
      style: { color: "#39424d", weight: 1.6, fillColor: "#ffffff", fillOpacity: state.config.tile_url ? 0 : 0.9 },
    }).addTo(map);
    const labels = L.layerGroup(authorities.features.map((f) => {
      const b = L.geoJSON(f).getBounds().getCenter();
      return L.tooltip({ permanent: true, direction: "center", className: "area-label", interactive: false })
        .setLatLng(b).setContent(esc(f.properties.name));
    }));
    map.fitBounds(boroughLayer.getBounds(), { animate: false });
    const layers = () => {
      const z = map.getZoom();
      if (z >= 12) wardLayer.addTo(map); else wardLayer.remove();
      if (z >= 10 && z <= 12) labels.addTo(map); else labels.remove();
    };
    map.on("zoomend", layers);
    layers();
    state.markers = L.layerGroup().addTo(map);
    map.on("moveend", renderMarkers);
  }

  function buildIndex() {
    const { list, evses, available } = filtered();
    state.shown = list;
    const features = list.map(({ i, evses }) => {
      const loc = state.points.locations[i];
      return { type: "Feature", properties: { i, c: locClass(evses), n: evses.length }, geometry: { type: "Point", coordinates: [loc[2], loc[3]] } };
    });
    state.index = new Supercluster({ radius: 55, maxZoom: 16 }).load(features);
    $("counts").textContent = `Showing ${fmt.format(list.length)} sites with ${fmt.format(evses)} chargepoints, ${fmt.format(available)} available now.`;
    $("counts").dataset.locations = String(list.length);
    $("counts").dataset.evses = String(evses);
    $("counts").dataset.available = String(available);
    renderMarkers();
  }

  function renderMarkers() {
    if (!state.index || !state.map) return;
    const b = state.map.getBounds();
    const z = Math.round(state.map.getZoom());
    const items = state.index.getClusters([b.getWest(), b.getSouth(), b.getEast(), b.getNorth()], z);
    state.markers.clearLayers();
    for (const it of items) {
      const [lon, lat] = it.geometry.coordinates;
      if (it.properties.cluster) {
        const n = it.properties.point_count;
        const m = L.marker([lat, lon], {
          icon: L.divIcon({ className: "cl", html: `<span class="cluster">${fmt.format(n)}</span>`, iconSize: [34, 26] }),
          keyboard: true, title: `${fmt.format(n)} sites: zoom in`,
        });
        m.on("click", () => {
          const zoom = Math.min(state.index.getClusterExpansionZoom(it.properties.cluster_id), 18);
          state.map.setView([lat, lon], zoom, { animate: !reduced });
        });
        m.on("add", () => m.getElement().setAttribute("aria-label", `${fmt.format(n)} sites here: zoom in`));
        m.addTo(state.markers);
      } else {
        const p = it.properties;
        const loc = state.points.locations[p.i];
        const name = loc[6] || loc[7];
        const m = L.marker([lat, lon], {
          icon: L.divIcon({ className: "pin", html: `<svg width="22" height="22" aria-hidden="true">${SHAPES[p.c]}</svg>`, iconSize: [22, 22] }),
          keyboard: true, title: `${name}: ${CLASS_WORDS[p.c]}`,
        });
        m.on("add", () => {
          const el = m.getElement();
          el.setAttribute("aria-label", `${name}, ${p.n} chargepoint${p.n === 1 ? "" : "s"}, ${CLASS_WORDS[p.c]}`);
          el.dataset.key = key(loc);
          el.dataset.status = p.c;
        });
        m.on("click", () => openPanel(p.i));
        m.addTo(state.markers);
      }
    }
  }

  // What the area set calls its authorities ("borough" in London), used in every label.
  const W = { one: "area", many: "areas", One: "Area", Many: "Areas", census: "census" };
  function words(c) {
    const cap = (t) => t.charAt(0).toUpperCase() + t.slice(1);
    Object.assign(W, { one: c.authority_label, many: c.authorities_label, One: cap(c.authority_label), Many: cap(c.authorities_label), census: c.census_source || "census" });
    document.querySelectorAll("[data-text]").forEach((el) => {
      el.textContent = el.dataset.text.replace(/\{(\w+)\}/g, (_, k) => W[k]);
    });
    const note = $("needs-note");
    note.textContent = c.needs_note || "";
    note.hidden = !c.needs_note;
  }

  function setOptions(select, options, keep) {
    const first = select.options[0];
    select.replaceChildren(first, ...options.map(([v, t]) => new Option(t, v)));
    if (keep != null && [...select.options].some((o) => o.value === keep)) select.value = keep;
  }

  function fillFilters() {
    const p = state.points;
    const boroughs = p.areas.map((a, i) => [String(i), a]).filter(([, a]) => a.level === "authority")
      .sort((x, y) => x[1].name.localeCompare(y[1].name));
    setOptions($("f-borough"), boroughs.map(([i, a]) => [i, a.name]), state.filter.borough);
    fillWards();
    setOptions($("f-operator"), p.operators.map((o, i) => [String(i), o.name === o.party ? o.party : `${o.name} (${o.party})`])
      .sort((a, b) => a[1].localeCompare(b[1])), state.filter.operator);
    setOptions($("f-standard"), p.standards.map((s, i) => [String(i), s.replaceAll("_", " ")]), state.filter.standard);
    setOptions($("f-status"), p.statuses.map((s) => [s, STATUS_WORDS[s] || s]), state.filter.status);
  }

  function fillWards() {
    const p = state.points, sel = $("f-ward");
    if (!state.filter.borough) {
      setOptions(sel, [], "");
      sel.disabled = true;
      return;
    }
    const code = p.areas[Number(state.filter.borough)].code;
    const inBorough = new Set(p.locations.filter((l) => l[4] === Number(state.filter.borough)).map((l) => l[5]));
    // Every ward of the borough, from the area figures when loaded (wards without sites too).
    const wardNames = state.areas ? state.areas.filter((r) => r.borough === code && r.level === "ward") : [];
    const opts = [];
    for (const w of wardNames) {
      const i = p.areas.findIndex((a) => a.code === w.code);
      opts.push([i >= 0 ? String(i) : `none:${w.code}`, w.name]);
    }
    for (const i of inBorough) if (i >= 0 && !opts.some(([v]) => v === String(i))) opts.push([String(i), p.areas[i].name]);
    opts.sort((a, b) => a[1].localeCompare(b[1]));
    setOptions(sel, opts, state.filter.ward);
    sel.disabled = false;
  }

  function boroughList() {
    const rows = (state.areas || []).filter((r) => r.level === "authority" && r.code !== "none")
      .sort((a, b) => a.name.localeCompare(b.name));
    $("borough-list").replaceChildren(...rows.map((r) => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.innerHTML = `<span>${esc(r.name)}</span> <span class="n">${fmt.format(r.evses)} chargepoints</span>`;
      b.addEventListener("click", () => {
        const i = state.points.areas.findIndex((a) => a.code === r.code);
        $("f-borough").value = i >= 0 ? String(i) : "";
        onFilter();
        $("f-borough").focus();
        zoomToFiltered();
      });
      li.append(b);
      return li;
    }));
  }

  function zoomToFiltered() {
    if (!state.shown || state.shown.length === 0) return;
    const pts = state.shown.map(({ i }) => [state.points.locations[i][3], state.points.locations[i][2]]);
    state.map.fitBounds(L.latLngBounds(pts).pad(0.1), { animate: !reduced, maxZoom: 17 });
  }

  function onFilter() {
    const f = state.filter;
    const borough = $("f-borough").value;
    if (borough !== f.borough) { f.borough = borough; f.ward = ""; fillWards(); }
    f.ward = $("f-ward").value.startsWith("none:") ? "-2" : $("f-ward").value;
    f.operator = $("f-operator").value;
    f.standard = $("f-standard").value;
    f.status = $("f-status").value;
    f.text = $("f-text").value.trim().toLowerCase();
    f.power = new Set([...document.querySelectorAll('input[name="power"]:checked')].map((c) => Number(c.value)));
    const t0 = performance.now();
    buildIndex();
    state.lastFilterMs = performance.now() - t0;
  }

  // ---------------------------------------------------------------- panel
  async function openPanel(i) {
    const loc = state.points.locations[i];
    const [party, id] = [state.points.operators[loc[0]].party, loc[1]];
    const [cc, pid] = party.split("*");
    const panel = $("panel"), body = $("panel-body");
    panel.hidden = false;
    document.querySelector(".map-layout").classList.add("with-panel");
    state.map.invalidateSize();
    body.innerHTML = `<h3 id="panel-title" tabindex="-1">${esc(loc[6] || loc[7])}</h3><p>Loading…</p>`;
    $("panel-title").focus();
    let d;
    try {
      d = await getJson(`/v1/london/locations/${encodeURIComponent(cc)}/${encodeURIComponent(pid)}/${encodeURIComponent(id)}/details`);
    } catch (e) {
      body.innerHTML = `<h3 id="panel-title" tabindex="-1">${esc(loc[6] || loc[7])}</h3><p role="alert">Could not load the details: ${esc(e.message)}</p>`;
      return;
    }
    const l = d.location;
    const evseRows = l.evses.map((e) => {
      const conns = e.connectors.map((c) => {
        const kw = c.max_electric_power ? c.max_electric_power / 1000 : (c.max_voltage * c.max_amperage * (c.power_type === "AC_3_PHASE" ? 3 : 1)) / 1000;
        return `${esc(c.standard.replaceAll("_", " "))} ${num(kw, 1)} kW`;
      }).join("<br>");
      return `<tr><td class="text">${esc(e.evse_id || e.uid)}</td><td class="text" data-evse="${esc(e.uid)}">${esc(STATUS_WORDS[e.status] || e.status)}</td><td class="text">${esc(new Date(e.last_updated).toLocaleString("en-GB"))}</td><td class="text">${conns}</td></tr>`;
    }).join("");
    const sources = d.sources.map((s) => `<li><strong>${esc(s.origin)}</strong> (${esc(s.kind)}${s.served ? ", shown here" : ""}; ${esc(s.state || "")})
      ${s.entry != null ? `<br>Log entry ${fmt.format(s.entry)}, verified under the signed checkpoint of tree size ${fmt.format(s.tree_size)}` : ""}
      ${s.inclusion_proof ? `<br><a href="${esc(s.inclusion_proof)}">Inclusion proof of that entry</a>` : ""}
      ${s.checkpoint ? `<details><summary>Signed checkpoint</summary><pre class="note">${esc(s.checkpoint)}</pre></details>` : ""}</li>`).join("");
    body.innerHTML = `<h3 id="panel-title" tabindex="-1">${esc(l.name || l.address)}</h3>
      <dl>
        <dt>Address</dt><dd>${esc([l.address, l.city, l.postal_code].filter(Boolean).join(", "))}</dd>
        <dt>Area</dt><dd>${esc(d.ward.name || "no ward")}, ${esc(d.borough.name || `outside every ${W.one}`)}</dd>
        <dt>Operator</dt><dd>${esc(l.operator ? l.operator.name : `${l.country_code}*${l.party_id}`)} (${esc(`${l.country_code}*${l.party_id}`)})</dd>
        <dt>Site id</dt><dd>${esc(l.id)}</dd>
        <dt>Parking</dt><dd>${esc((l.parking_type || "not given").replaceAll("_", " ").toLowerCase())}</dd>
      </dl>
      <h4>Chargepoints</h4>
      <div class="table-wrap" tabindex="0" role="region" aria-label="Chargepoints at this site">
      <table class="data"><thead><tr><th scope="col">Chargepoint</th><th scope="col">Status</th><th scope="col">Since</th><th scope="col">Connectors</th></tr></thead><tbody>${evseRows}</tbody></table></div>
      <h4>Tariffs</h4>
      ${d.tariffs.length ? `<ul>${d.tariffs.map((t) => `<li>${esc(t.summary)}</li>`).join("")}</ul>` : "<p>None published.</p>"}
      <h4>Where this comes from</h4>
      <ul>${sources}</ul>`;
    $("panel-title").focus();
  }

  function closePanel() {
    $("panel").hidden = true;
    document.querySelector(".map-layout").classList.remove("with-panel");
    state.map.invalidateSize();
    $("map").focus();
  }

  // ---------------------------------------------------------------- live
  function connectLive() {
    if (!window.EventSource) { pollLive(); return; }
    const es = new EventSource("/v1/london/status/stream");
    es.onopen = () => { $("live").classList.add("on"); $("live-text").textContent = "Live: changes appear as they happen"; };
    es.onerror = () => { $("live").classList.remove("on"); $("live-text").textContent = "Reconnecting to live updates…"; };
    let pending = false;
    es.addEventListener("status", (ev) => {
      const e = JSON.parse(ev.data);
      const i = state.byKey.get(`${e.country_code}*${e.party_id}/${e.location_id}`);
      if (i == null) return;
      const evse = state.points.locations[i][10].find((x) => x[0] === e.evse_uid);
      const s = state.points.statuses.indexOf(e.status);
      if (!evse || s < 0) return;
      evse[1] = s;
      state.changes = (state.changes || 0) + 1;
      $("live-text").textContent = `Live: last change ${new Date().toLocaleTimeString("en-GB")}`;
      if (!pending) {
        pending = true;
        setTimeout(() => { pending = false; buildIndex(); updateSummary(); }, 250);
      }
    });
    es.addEventListener("reset", async () => { await loadPoints(); buildIndex(); updateSummary(); });
  }

  function pollLive() {
    setInterval(async () => { if (await loadPoints()) { buildIndex(); updateSummary(); } }, 2000);
  }

  function updateSummary() {
    const p = state.points;
    let avail = 0;
    for (const l of p.locations) for (const e of l[10]) if (p.statuses[e[1]] === "AVAILABLE") avail += 1;
    $("summary").textContent = `${fmt.format(p.location_count)} sites, ${fmt.format(p.evse_count)} chargepoints, ${fmt.format(avail)} available now, across ${state.config.authorities} ${W.many} and ${state.config.wards} wards.`;
  }

  // ---------------------------------------------------------------- areas
  const AREA_COLS = [
    ["name", "Area", (r) => r.name, "text"],
    ["locations", "Sites", (r) => r.locations],
    ["evses", "Charge­points", (r) => r.evses],
    ["slow", "Slow", (r) => r.evses_by_power.slow],
    ["fast", "Fast", (r) => r.evses_by_power.fast],
    ["rapid", "Rapid", (r) => r.evses_by_power.rapid],
    ["ultra", "Ultra-rapid", (r) => r.evses_by_power.ultra],
    ["km2", "Per km²", (r) => r.evses_per_km2, 1],
    ["res", "Per 10,000 residents", (r) => r.evses_per_10k_residents, 1],
    ["cars", "Per 1,000 car-owning households", (r) => r.evses_per_1k_car_households, 1],
    ["avail", "Available now", (r) => r.availability_now, "pct"],
    ["spd", "Sessions per chargepoint per day (30 days)", (r) => r.usage_30d.sessions_per_evse_day, 2, true],
    ["kwh", "kWh per chargepoint per day (30 days)", (r) => r.usage_30d.kwh_per_evse_day, 1, true],
    ["occ", "Time in use (30 days)", (r) => r.usage_30d.occupancy, "pct", true],
    ["rel", "Rapid reliability (12 months)", (r) => r.reliability, "pct1"],
    ["smart", "Smart-charging ready", (r) => r.smart_share, "pct"],
    ["iso", "ISO 15118", (r) => r.iso15118_share, "pct"],
    ["v2g", "V2G", (r) => r.v2g_share, "pct"],
  ];
  const areaSort = { col: "name", dir: 1 };

  function cell(r, col) {
    const [, , get, kind, usage] = col;
    if (usage && r.usage_30d.suppressed) return `<td><span class="sup">suppressed</span></td>`;
    const v = get(r);
    if (kind === "text") return `<td class="text">${esc(v)}</td>`;
    if (col[0] === "rel" && v == null) return `<td><span class="sup">not measured</span></td>`;
    if (kind === "pct") return `<td>${pct(v)}</td>`;
    if (kind === "pct1") return `<td>${pct(v, 1)}</td>`;
    return `<td>${num(v, typeof kind === "number" ? kind : 0)}</td>`;
  }

  async function ensureAreas() {
    if (!state.areas) state.areas = await getJson("/v1/london/areas");
    return state.areas;
  }

  async function renderAreas(borough) {
    const rows = await ensureAreas();
    const set = state.config.area_set;
    let shown, caption, csv;
    if (borough) {
      const b = rows.find((r) => r.code === borough);
      shown = rows.filter((r) => r.level === "ward" && r.borough === borough);
      caption = `Wards of ${b ? b.name : borough}`;
      csv = `/v1/london/areas.csv?level=ward&borough=${encodeURIComponent(borough)}`;
      $("areas-back").hidden = false;
      const city = shown.find((r) => r.census_area);
      $("areas-intro").textContent = city
        ? `Per-resident figures are for the whole ${W.one}: most of its wards have too few residents for ward census figures.`
        : "Usage figures resting on fewer than " + state.config.min_sessions + " charging sessions are suppressed, and so is a second figure wherever one could be worked out from a total.";
    } else {
      shown = rows.filter((r) => r.level === "authority" || r.level === "all");
      caption = `${set}: all ${W.many}`;
      csv = "/v1/london/areas.csv?level=authority";
      $("areas-back").hidden = true;
      $("areas-intro").textContent = `Choose a ${W.one} to see its wards. Usage figures resting on fewer than ${state.config.min_sessions} charging sessions are suppressed.`;
    }
    $("areas-caption").textContent = caption;
    $("areas-csv").href = csv;
    const total = shown.filter((r) => r.level === "all");
    const body = shown.filter((r) => r.level !== "all");
    const col = AREA_COLS.find((c) => c[0] === areaSort.col) || AREA_COLS[0];
    body.sort((a, b) => {
      const x = col[2](a), y = col[2](b);
      if (typeof x === "string") return areaSort.dir * x.localeCompare(y);
      return areaSort.dir * ((x ?? -1) - (y ?? -1));
    });
    const thead = $("areas-table").tHead;
    thead.innerHTML = `<tr>${AREA_COLS.map((c) => `<th scope="col" aria-sort="${c[0] === areaSort.col ? (areaSort.dir > 0 ? "ascending" : "descending") : "none"}"><button type="button" data-col="${c[0]}">${c[1]}</button></th>`).join("")}</tr>`;
    for (const b of thead.querySelectorAll("button")) {
      b.addEventListener("click", () => {
        areaSort.dir = areaSort.col === b.dataset.col ? -areaSort.dir : (b.dataset.col === "name" ? 1 : -1);
        areaSort.col = b.dataset.col;
        renderAreas(borough).then(() => thead.querySelector(`button[data-col="${areaSort.col}"]`).focus());
      });
    }
    const tr = (r) => {
      const first = r.level === "authority" && r.code !== "none"
        ? `<th scope="row" class="text link"><button type="button" data-drill="${esc(r.code)}">${esc(r.name)}</button></th>`
        : `<th scope="row" class="text">${esc(r.name)}</th>`;
      return `<tr data-code="${esc(r.code)}">${first}${AREA_COLS.slice(1).map((c) => cell(r, c)).join("")}</tr>`;
    };
    $("areas-table").tBodies[0].innerHTML = body.map(tr).join("") + total.map(tr).join("");
    for (const b of $("areas-table").querySelectorAll("button[data-drill]")) {
      b.addEventListener("click", () => { location.hash = `#areas/${b.dataset.drill}`; });
    }
  }

  // ---------------------------------------------------------------- trends
  let charts = [];
  async function loadTrends() {
    const rows = await ensureAreas();
    const sel = $("t-borough");
    if (sel.options.length === 1) {
      const boroughs = rows.filter((r) => r.level === "authority" && r.code !== "none").sort((a, b) => a.name.localeCompare(b.name));
      setOptions(sel, boroughs.map((r) => [r.code, r.name]));
      sel.options[0].textContent = `All of ${state.config.area_set}`;
    }
    const borough = sel.value;
    const wardSel = $("t-ward");
    if (borough === "london") { setOptions(wardSel, []); wardSel.disabled = true; }
    else if (wardSel.dataset.borough !== borough) {
      setOptions(wardSel, rows.filter((r) => r.level === "ward" && r.borough === borough).sort((a, b) => a.name.localeCompare(b.name)).map((r) => [r.code, r.name]));
      wardSel.disabled = false;
    }
    wardSel.dataset.borough = borough;
    const area = wardSel.value || borough;
    const by = document.querySelector('input[name="t-by"]:checked').value;
    const t = await getJson(`/v1/london/trends?area=${encodeURIComponent(area)}&by=${by}`);
    const pts = t.points;
    const hidden = pts.filter((p) => p.suppressed).length;
    $("trends-note").textContent = `${t.area.name}, ${by === "month" ? "monthly" : "quarterly"}, ${pts.length} periods since the first recorded session.` +
      (hidden ? ` ${hidden} period${hidden === 1 ? " is" : "s are"} suppressed (fewer than ${t.min_sessions} sessions, or needed to protect one that is) and left as gaps.` : "");
    for (const c of charts) c.destroy();
    charts = [];
    $("charts").replaceChildren();
    const xs = pts.map((p) => Date.parse(p.start) / 1000);
    const series = [
      ["Chargepoints in service", (p) => p.evses_in_service, ""],
      ["Charging sessions", (p) => p.sessions, ""],
      ["Energy delivered (kWh)", (p) => p.kwh, ""],
      ["Time in use (%)", (p) => (p.occupancy == null ? null : p.occupancy * 100), "%"],
    ];
    for (const [label, get] of series) {
      const wrap = document.createElement("figure");
      wrap.className = "chart";
      wrap.innerHTML = `<h3>${esc(label)}</h3>`;
      wrap.setAttribute("aria-label", `${label}: chart; the table below has the figures`);
      $("charts").append(wrap);
      const width = Math.max(240, wrap.clientWidth - 8);
      charts.push(new uPlot({
        width, height: 180, legend: { show: false }, cursor: { show: !reduced },
        scales: { x: { time: true } },
        axes: [{ stroke: "#4d5560" }, { stroke: "#4d5560", size: 72 }],
        series: [{}, { label, stroke: "#0b5cad", width: 2, fill: "rgba(11,92,173,0.08)", spanGaps: false, points: { show: pts.length < 40 } }],
      }, [xs, pts.map(get)], wrap));
    }
    $("trends-table").tHead.innerHTML = `<tr><th scope="col">Period</th><th scope="col">Chargepoints in service</th><th scope="col">Sessions</th><th scope="col">kWh</th><th scope="col">Sessions per chargepoint per day</th><th scope="col">Time in use</th></tr>`;
    $("trends-table").tBodies[0].innerHTML = pts.map((p) => p.suppressed
      ? `<tr><th scope="row" class="text">${esc(p.label)}</th><td>${num(p.evses_in_service)}</td><td colspan="4"><span class="sup">suppressed</span></td></tr>`
      : `<tr><th scope="row" class="text">${esc(p.label)}</th><td>${num(p.evses_in_service)}</td><td>${num(p.sessions)}</td><td>${num(p.kwh)}</td><td>${num(p.sessions_per_evse_day, 2)}</td><td>${pct(p.occupancy, 1)}</td></tr>`).join("");
  }

  // ---------------------------------------------------------------- needs
  let needsAll = false;
  async function loadNeeds() {
    const rows = await ensureAreas();
    const sel = $("n-borough");
    if (sel.options.length === 1) {
      setOptions(sel, rows.filter((r) => r.level === "authority" && r.code !== "none").sort((a, b) => a.name.localeCompare(b.name)).map((r) => [r.code, r.name]));
    }
    const q = sel.value ? `?borough=${encodeURIComponent(sel.value)}` : "";
    $("needs-csv").href = `/v1/london/needs.csv${q}`;
    const needs = await getJson(`/v1/london/needs${q}`);
    const shown = needsAll || sel.value ? needs : needs.slice(0, 50);
    $("needs-more").hidden = needsAll || !!sel.value || needs.length <= 50;
    $("needs-caption").textContent = sel.value
      ? `Wards of ${sel.options[sel.selectedIndex].text}, with their rank across ${state.config.area_set}`
      : `The ${shown.length === needs.length ? "" : `${shown.length} `}wards most in need, of ${fmt.format(needs.length)}`;
    $("needs-table").tHead.innerHTML = `<tr><th scope="col">Rank</th><th scope="col" class="text">Ward</th><th scope="col" class="text">${esc(W.One)}</th><th scope="col">Car-owning households in flats</th><th scope="col">Public chargepoints</th><th scope="col">Households per chargepoint</th><th scope="col">Time in use (30 days)</th><th scope="col">Area over 400 m from an on-street chargepoint</th><th scope="col">Ranks (households, use, distance)</th></tr>`;
    $("needs-table").tBodies[0].innerHTML = shown.map((n) => `<tr><td>${n.rank}</td><th scope="row" class="text">${esc(n.name)}</th><td class="text">${esc(n.borough_name)}</td><td>${num(n.car_households_without_driveway)}</td><td>${num(n.evses)}</td><td>${num(n.pressure)}</td><td>${n.occupancy_suppressed ? '<span class="sup">suppressed</span>' : n.occupancy_30d == null ? "none there" : pct(n.occupancy_30d, 1)}</td><td>${pct(n.far_share)}</td><td>${n.pressure_rank}, ${n.occupancy_rank ?? "–"}, ${n.far_rank}</td></tr>`).join("");
  }

  // ---------------------------------------------------------------- suppliers
  const COLOUR = {
    green: ["green", "✓", "Green"], amber: ["amber", "!", "Amber"], red: ["red", "✕", "Red"],
    not_measured: ["grey", "?", "Not measured"],
  };
  const badge = (c) => {
    const [cls, sym, word] = COLOUR[c] || ["grey", "?", String(c).replaceAll("_", " ")];
    return `<span class="badge ${cls}"><span aria-hidden="true">${sym}</span> ${word}</span>`;
  };
  const STATE_WORDS = { ok: "✓ ok", stale: "! stale", unreachable: "✕ unreachable", invalid: "✕ invalid", forked: "✕ forked" };

  async function loadSuppliers() {
    if (!$("suppliers").hasChildNodes()) $("suppliers").innerHTML = "<p>Loading the suppliers' status…</p>";
    let suppliers = [];
    let note = "";
    try { suppliers = await getJson("/v1/compliance/suppliers"); } catch (e) { note = `Compliance is not open on this server (${e.message}).`; }
    const [members, conformance] = await Promise.all([getJson("/v1/members"), getJson("/v1/conformance/members").catch(() => [])]);
    $("suppliers").innerHTML = note ? `<p>${esc(note)}</p>` : suppliers.length === 0 ? "<p>No supplier is registered (suppliers.toml).</p>" : suppliers.map((s) => `
      <article class="supplier" aria-labelledby="sup-${esc(s.id)}">
        <h3 id="sup-${esc(s.id)}">${esc(s.name)} ${badge(s.status)}</h3>
        <p>${esc(s.summary || "")}</p>
        ${s.reasons && s.reasons.length ? `<ul>${s.reasons.map((r) => `<li>${esc(r)}</li>`).join("")}</ul>` : ""}
        <details><summary>Every clause, as measured</summary>
          <div class="table-wrap" tabindex="0" role="region" aria-label="Clauses of ${esc(s.name)}">
          <table class="data"><thead><tr><th scope="col" class="text">Clause</th><th scope="col" class="text">Status</th><th scope="col" class="text">What was measured</th></tr></thead><tbody>
          ${s.indicators.map((i) => `<tr><th scope="row" class="text">${esc(i.label || i.name)}</th><td class="text">${badge(i.colour)}</td><td class="text">${(i.summary || []).map(esc).join("<br>")}</td></tr>`).join("")}
          </tbody></table></div>
        </details>
        <p>Evidence, signed by this aggregator: <a href="/v1/compliance/suppliers/${encodeURIComponent(s.id)}/report.html">report</a> · <a href="/v1/compliance/suppliers/${encodeURIComponent(s.id)}/report.json">signed JSON</a> · <a href="/v1/compliance/suppliers/${encodeURIComponent(s.id)}/report.csv">CSV</a></p>
      </article>`).join("");
    $("members-table").tHead.innerHTML = `<tr><th scope="col" class="text">Node</th><th scope="col" class="text">Kind</th><th scope="col" class="text">Health</th><th scope="col">Verified entries</th><th scope="col" class="text">Latest conformance run</th><th scope="col" class="text">Evidence</th></tr>`;
    $("members-table").tBodies[0].innerHTML = members.map((m) => {
      const c = conformance.find((r) => r.origin === m.origin);
      const conf = c ? `${c.passed ? "✓ passed" : "✕ failed"} at level ${esc(c.level)} (${esc(c.at ? new Date(c.at).toLocaleString("en-GB") : "")})${c.failed && c.failed.length ? `: ${c.failed.map((f) => esc(f.id)).join(", ")}` : ""}` : "not run yet";
      return `<tr><th scope="row" class="text">${esc(m.origin)}</th><td class="text">${esc(m.kind)}</td><td class="text">${esc(STATE_WORDS[m.state] || m.state)}${m.reason ? `: ${esc(m.reason)}` : ""}</td><td>${fmt.format(m.verified_size)}</td><td class="text">${conf}</td><td class="text"><a href="/v1/members/${encodeURIComponent(m.origin)}/evidence">evidence</a></td></tr>`;
    }).join("");
  }

  // ---------------------------------------------------------------- start
  async function start() {
    state.config = await getJson("/v1/london/dashboard");
    $("title").textContent = state.config.title;
    $("attribution").textContent = state.config.attribution || "";
    words(state.config);
    const [boundaries] = await Promise.all([getJson("/v1/london/areas/boundaries"), loadPoints()]);
    initMap(boundaries);
    const ward = boundaries.features.find((f) => f.properties.level === "ward");
    if (ward) $("f-text").placeholder = `e.g. ${ward.properties.name}`;
    fillFilters();
    buildIndex();
    updateSummary();
    state.ready = true;
    // Milliseconds from navigation to the map drawing every chargepoint (BENCHMARKS.md).
    state.readyMs = performance.now();
    document.body.dataset.ready = "true";
    $("filters").addEventListener("change", onFilter);
    let typing;
    $("f-text").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(onFilter, 150); });
    $("filters").addEventListener("reset", () => setTimeout(() => { state.filter.borough = "x"; onFilter(); }, 0));
    $("filters").addEventListener("submit", (e) => { e.preventDefault(); onFilter(); zoomToFiltered(); });
    $("panel-close").addEventListener("click", closePanel);
    $("panel").addEventListener("keydown", (e) => { if (e.key === "Escape") closePanel(); });
    $("areas-back").addEventListener("click", () => { location.hash = "#areas"; });
    $("t-borough").addEventListener("change", () => { $("t-ward").value = ""; loadTrends(); });
    $("t-ward").addEventListener("change", loadTrends);
    for (const r of document.querySelectorAll('input[name="t-by"]')) r.addEventListener("change", loadTrends);
    $("n-borough").addEventListener("change", loadNeeds);
    $("needs-more").addEventListener("click", () => { needsAll = true; loadNeeds(); });
    window.addEventListener("hashchange", showView);
    connectLive();
    showView();
    ensureAreas().then(() => { boroughList(); fillWards(); }).catch((e) => console.error(e));
  }

  function fail(e) {
    $("summary").textContent = `The dashboard could not load: ${e.message}`;
    $("summary").setAttribute("role", "alert");
  }

  // For tests and bookmarks: show one location's panel.
  state.focusLocation = (k) => {
    const i = state.byKey.get(k);
    if (i == null) return false;
    const loc = state.points.locations[i];
    state.map.setView([loc[3], loc[2]], 18, { animate: false });
    openPanel(i);
    return true;
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => start().catch(fail));
  else start().catch(fail);
})();
