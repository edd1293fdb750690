// The status page's script: polls the admin JSON and draws it. Every figure and name goes into
// the page as text (Element.append of a string makes a text node; nothing here sets innerHTML),
// so a route named "<script>" shows as those characters. With admin.auth the fetches carry the
// bearer token typed into the page's field, kept in sessionStorage (this tab, until it closes).
"use strict";

(() => {
  const params = new URLSearchParams(location.search);
  // ?refresh=SECONDS (default 5, at least 0.2)
  const refreshSeconds = Math.max(0.2, Number(params.get("refresh")) || 5);
  const tokenKey = "gatehouse-admin-token";
  const endpoints = ["/stats", "/upstreams", "/reloads", "/rate_limits", "/cache"];
  let previous = null; // the last /stats answer, for rates
  let refreshes = 0;

  class Unauthorized extends Error {}

  // ---- building blocks -------------------------------------------------------------------
  function el(tag, className, ...children) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  function table(headings, rows, empty) {
    if (rows.length === 0) return el("p", "empty", empty);
    const head = el("tr", null, ...headings.map((h) => el("th", null, h)));
    return el("div", "scroll", el("table", null, el("thead", null, head), el("tbody", null, ...rows)));
  }

  function row(cells, data) {
    const tr = el("tr", null, ...cells.map((c) => (c instanceof Node && c.tagName === "TD" ? c : el("td", null, c))));
    for (const [k, v] of Object.entries(data || {})) tr.dataset[k] = v;
    return tr;
  }

  function badge(text, kind) {
    const b = el("span", "badge " + kind, text);
    b.dataset.state = text;
    return b;
  }

  function show(id, ...content) {
    document.querySelector("#" + id + " > .body").replaceChildren(...content.filter((c) => c !== null && c !== undefined && c !== ""));
  }

  const num = (n) => (n === undefined || n === null ? "—" : Number(n).toLocaleString("en"));
  const rate = (r) => (r === null ? "—" : r < 10 ? r.toFixed(2) : r.toFixed(1));
  const percent = (part, whole) => (whole > 0 ? ((100 * part) / whole).toFixed(1) + "\u00a0%" : "—");

  function bytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }

  // ---- fetching --------------------------------------------------------------------------
  async function getJson(path) {
    const headers = {};
    const token = sessionStorage.getItem(tokenKey);
    if (token) headers.Authorization = "Bearer " + token;
    const r = await fetch(path, { headers, cache: "no-store", credentials: "same-origin" });
    if (r.status === 401) throw new Unauthorized(path);
    if (!r.ok) throw new Error(path + ": HTTP " + r.status);
    return r.json();
  }

  // ---- sections --------------------------------------------------------------------------
  // Per second between two polls; null without a previous poll or after a counter reset.
  function perSecond(now, before, dt) {
    if (before === undefined || before === null || dt <= 0 || now < before) return null;
    return (now - before) / dt;
  }

  function drawListeners(stats, dt, before) {
    const old = new Map((before ? before.listeners : []).map((l) => [l.name, l]));
    const rows = stats.listeners.map((l) => {
      const p = old.get(l.name);
      return row(
        [l.name, l.address, l.tls ? "HTTPS" : "HTTP", num(l.connections), rate(perSecond(l.accepted, p && p.accepted, dt)),
          num(l.rejected), num(l.tls_handshake_failures)],
        { listener: l.name });
    });
    show("listeners", table(["Listener", "Address", "Protocol", "Open", "Accepted/s", "Rejected", "TLS failures"], rows, "No listeners."));
  }

  function routeCells(r, p, dt) {
    const t = r.traffic;
    const target = r.upstream || (r.respond ? "respond " + r.respond : r.redirect ? "redirect " + r.redirect : "");
    if (!t) return [r.name, target, "—", "—", "—", "—"];
    const pt = p && p.traffic;
    const d = (key) => (pt && t.requests >= pt.requests ? t.responses[key] - pt.responses[key] : null);
    const dRequests = pt && t.requests >= pt.requests ? t.requests - pt.requests : null;
    const errors = el("td", null, dRequests ? percent(d("5xx"), dRequests) : "—");
    if (dRequests && d("5xx") > 0) errors.className = "bad";
    return [r.name, target, rate(perSecond(t.requests, pt && pt.requests, dt)), errors,
      dRequests ? percent(d("4xx"), dRequests) : "—", num(t.requests)];
  }

  function drawRoutes(stats, dt, before) {
    const old = new Map((before ? before.routes : []).map((r) => [r.name, r]));
    const rows = stats.routes.map((r) => row(routeCells(r, old.get(r.name), dt), { route: r.name }));
    const note = stats.metrics ? null : el("p", "empty", "Request metrics are off (metrics.enabled: false).");
    show("routes", table(["Route", "To", "Req/s", "5xx", "4xx", "Requests"], rows, "No routes."),
      note, el("p", "note", "Rates and ratios over the last " + refreshSeconds + " s between two polls."));
  }

  function endpointHealth(h) {
    if (h.ejected_for_seconds !== undefined) return ["ejected", "bad"];
    if (h.healthy === false) return ["failing", "bad"];
    if (h.usable === false) return ["unusable", "bad"];
    if (h.healthy === true) return ["healthy", "ok"];
    return ["usable", "ok"];
  }

  function endpointRow(e, poolMax) {
    const h = e.health || {};
    const [state, kind] = endpointHealth(h);
    const health = el("td", null, badge(state, kind));
    if (h.slow_start_weight !== undefined) health.append(" slow start " + Math.round(100 * h.slow_start_weight) + " %");
    const check = h.last_check_seconds_ago === undefined ? "—"
      : (h.last_status ? "status " + h.last_status : "no answer") + (h.last_error ? ", " + h.last_error : "") + ", " +
        h.last_check_seconds_ago.toFixed(1) + " s ago";
    const pool = el("td", null, num(e.connections) + " of " + num(poolMax) + " (" + num(e.idle) + " idle)");
    return row([e.address, health, h.ejections === undefined ? "—" : num(h.ejections), pool, num(e.in_flight), check],
      { endpoint: e.address, health: state });
  }

  function breakerBadge(b) {
    if (!b) return badge("no breaker", "none");
    const kind = b.state === "closed" ? "ok" : b.state === "open" ? "bad" : "warn";
    return badge(b.state, kind);
  }

  function discoveryText(d) {
    if (!d || !d.state) return "static";
    let t = d.provider + " " + d.source + ": " + d.state + ", version " + d.version;
    if (d.last_error) t += ", last error: " + d.last_error;
    return t;
  }

  function drawUpstream(u, workers) {
    const b = u.circuit_breaker;
    const failures = Object.entries(u.failures || {}).map(([k, v]) => k + " " + v).join(", ") || "none";
    const facts = el("dl", "facts",
      el("dt", null, "Discovery"), el("dd", null, discoveryText(u.discovery)),
      el("dt", null, "Breaker"), el("dd", null, breakerBadge(b),
        b ? " " + b.window_failures + " of " + b.window_requests + " tries failed in the window" : null),
      el("dt", null, "In flight"), el("dd", null, num(u.in_flight.requests) + " requests, " + num(u.in_flight.pending) +
        " pending, " + num(u.in_flight.connections) + " connections"),
      el("dt", null, "Failures"), el("dd", null, failures));
    const poolMax = u.max_connections_per_endpoint_per_worker * workers;
    const rows = u.endpoints.map((e) => endpointRow(e, poolMax));
    const card = el("article", "upstream", el("h3", null, u.name), facts,
      table(["Endpoint", "Health", "Ejections", "Pool", "In flight", "Last check"], rows, "No endpoints."));
    card.dataset.upstream = u.name;
    return card;
  }

  function drawUpstreams(up) {
    const cards = up.upstreams.map((u) => drawUpstream(u, up.workers));
    show("upstreams", ...(cards.length ? cards : [el("p", "empty", "No upstreams.")]));
  }

  function drawRateLimits(rl) {
    const rows = rl.limits.map((l) => row([l.route, l.limit, l.rate, num(l.burst), l.key, l.store,
      num(l.keys_tracked) + " of " + num(l.max_keys), num(l.decisions.allowed), num(l.decisions.limited),
      num(l.decisions.fallback)], { limit: l.route + "/" + l.limit }));
    const stores = rl.stores.map((s) => row([s.name, s.addresses.join(", "), s.mode, num(s.commands.ok), num(s.commands.error),
      num(s.commands.timeout)], { store: s.name }));
    show("rate-limits",
      table(["Route", "Limit", "Rate", "Burst", "Key", "Store", "Keys", "Allowed", "Limited", "Fallback"], rows, "No rate limits."),
      stores.length ? table(["Store", "Addresses", "Mode", "OK", "Errors", "Timeouts"], stores, "") : null);
  }

  function drawCache(c) {
    const facts = el("p", null, num(c.entries) + (c.entries === 1 ? " entry, " : " entries, ") + bytes(c.bytes) + " of " + bytes(c.max_bytes) + ", hit ratio " +
      (100 * c.hit_ratio).toFixed(1) + " %, " + num(c.evictions) + " evictions, " + num(c.purges) + " purges");
    const results = ["hit", "miss", "stale", "revalidated", "bypass", "coalesced"];
    const rows = Object.entries(c.routes).map(([name, r]) => row([name, ...results.map((k) => num(r[k]))], { cacheRoute: name }));
    show("cache", facts, table(["Route", ...results], rows, "No route caches."));
  }

  function drawCertificates(stats) {
    const rows = stats.certificates.map((c) => {
      const left = el("td", null, c.expired ? "expired" : Math.floor(c.days_left) + " days");
      left.className = c.expired ? "bad" : c.days_left < 14 ? "warn" : "";
      return row([c.listener, c.names.join(", "), c.not_after, left, c.file], { certificate: c.file });
    });
    show("certificates", table(["Listener", "Names", "Not after", "Left", "File"], rows, "No TLS certificates."));
  }

  function drawReloads(rl) {
    // A rejected reload's diagnostics get a row of their own, the table's full width.
    const rows = rl.attempts.slice(0, 10).flatMap((a) => {
      const data = { generation: String(a.generation), result: a.result };
      const result = el("td", null, badge(a.result, a.result === "ok" ? "ok" : "bad"));
      const attempt = row([a.time.replace("T", " "), a.trigger, result, num(a.generation)], data);
      if (!a.error) return [attempt];
      const error = el("td", "diagnostics", el("pre", "diagnostic", a.error));
      error.colSpan = 4;
      return [attempt, row([error], data)];
    });
    show("reloads", table(["Time", "Trigger", "Result", "Generation"], rows, "No reloads yet."));
  }

  // ---- the poll --------------------------------------------------------------------------
  function drawAll(results) {
    const [stats, upstreams, reloads, rateLimits, cache] = results.map((r) => (r.status === "fulfilled" ? r.value : null));
    if (stats) {
      const dt = previous ? stats.time - previous.time : 0;
      drawListeners(stats, dt, previous);
      drawRoutes(stats, dt, previous);
      drawCertificates(stats);
      previous = stats;
    }
    if (upstreams) drawUpstreams(upstreams);
    if (reloads) drawReloads(reloads);
    if (rateLimits) drawRateLimits(rateLimits);
    if (cache) drawCache(cache);
    return { stats, reloads };
  }

  // Without the token nothing of the last answers stays on the page.
  function clearAll() {
    previous = null;
    for (const body of document.querySelectorAll("section > .body")) body.replaceChildren(el("p", "empty", "Needs the admin token."));
  }

  function setProblem(text) {
    const p = document.getElementById("problem");
    p.hidden = !text;
    p.textContent = text || "";
  }

  async function refresh() {
    const results = await Promise.allSettled(endpoints.map(getJson));
    const failed = results.filter((r) => r.status === "rejected").map((r) => r.reason);
    const unauthorized = failed.some((e) => e instanceof Unauthorized);
    let drawn = { stats: null, reloads: null };
    try {
      if (unauthorized) clearAll();
      else drawn = drawAll(results);
    } catch (e) {
      failed.push(e);
    }
    document.getElementById("token-form").hidden = !unauthorized && !sessionStorage.getItem(tokenKey);
    document.body.dataset.state = unauthorized ? "unauthorized" : failed.length ? "error" : "ok";
    if (unauthorized) setProblem("The admin API wants a bearer token (admin.auth): enter it below.");
    else setProblem(failed.length ? "Could not read: " + failed.map((e) => e.message).join("; ") : null);
    const generation = drawn.reloads ? drawn.reloads.generation : drawn.stats ? drawn.stats.generation : "?";
    document.getElementById("summary").textContent =
      "generation " + generation + " · updated " + new Date().toLocaleTimeString("en-GB") + " · every " + refreshSeconds + " s";
    refreshes++;
    document.body.dataset.refreshes = String(refreshes);
  }

  async function loop() {
    try {
      await refresh();
    } finally {
      setTimeout(loop, refreshSeconds * 1000);
    }
  }

  function setUpToken() {
    const form = document.getElementById("token-form");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const input = document.getElementById("token");
      if (input.value.trim()) sessionStorage.setItem(tokenKey, input.value.trim());
      input.value = "";
      previous = null;
      refresh();
    });
    document.getElementById("forget-token").addEventListener("click", () => {
      sessionStorage.removeItem(tokenKey);
      refresh();
    });
  }

  setUpToken();
  loop();
})();
