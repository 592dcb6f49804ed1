/* natpilot web interface: plain JavaScript, no framework, no build step.
 * Every value from the API is put in the page with textContent (never as
 * HTML). State-changing requests carry the session's CSRF token. */
"use strict";

const $ = (id) => document.getElementById(id);
let csrf = null;
let statusTimer = null;
let firstStatus = null; /* the status asked for at start, beside the session */
const setup = { step: 1, address: "", name: "", platform: "xbox",
  chosen: new Map(), diag: null, plan: null, device: null };

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}

/* replaceChildren, skipping absent (null) parts */
function fill(node, ...kids) { node.replaceChildren(...kids.filter((k) => k != null)); }

function announce(text) { $("announce").textContent = text; }

async function api(path, opts) {
  const o = Object.assign({ method: "GET", headers: {} }, opts || {});
  o.credentials = "same-origin";
  if (o.method !== "GET") {
    o.headers["Content-Type"] = "application/json";
    if (csrf) o.headers["X-CSRF-Token"] = csrf;
    if (o.json !== undefined) o.body = JSON.stringify(o.json);
  }
  const r = await fetch(path, o);
  const type = r.headers.get("Content-Type") || "";
  const body = type.startsWith("application/json") ? await r.json() : await r.text();
  if (r.status === 401 && path !== "/api/v1/login") { showLogin(); }
  if (!r.ok) {
    const e = new Error(body && body.error ? body.error.message : "HTTP " + r.status);
    e.status = r.status; e.code = body && body.error ? body.error.code : "";
    throw e;
  }
  return body;
}

/* ---- views ---- */
const views = ["login", "status", "setup", "profiles"];
function show(view) {
  for (const v of views) $("view-" + v).hidden = v !== view;
  for (const v of ["status", "setup", "profiles"]) {
    const a = $("nav-" + v);
    if (v === view) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  $("nav").hidden = view === "login";
  document.title = "natpilot – " + view[0].toUpperCase() + view.slice(1);
  if (statusTimer) { clearTimeout(statusTimer); statusTimer = null; }
  if (view === "status") refreshStatus();
  if (view === "setup") goStep(setup.step);
  if (view === "profiles") searchProfiles();
}
function route() {
  if (!csrf) return showLogin();
  const v = (location.hash || "#status").slice(1);
  show(views.includes(v) && v !== "login" ? v : "status");
}
function showLogin() {
  csrf = null;
  show("login");
  $("token").focus();
}

/* ---- login ---- */
async function login(ev) {
  ev.preventDefault();
  const err = $("login-error");
  err.hidden = true;
  try {
    const r = await api("/api/v1/login", { method: "POST", json: { token: $("token").value.trim() } });
    csrf = r.csrf;
    $("token").value = "";
    if (!location.hash || location.hash === "#login") location.hash = "#status";
    route();
    $("main").focus();
  } catch (e) {
    err.textContent = e.message; err.hidden = false;
  }
}
async function logout() {
  try { await api("/api/v1/logout", { method: "POST" }); } catch (e) { /* gone anyway */ }
  showLogin();
}

/* ---- status ---- */
const STATE_WORDS = {
  held: ["good", "Mapped"], present: ["good", "Mapped by the device"],
  pending: ["warn", "Waiting"], refused: ["bad", "Refused by the router"],
  missing: ["bad", "Missing"], "other-device": ["bad", "Held by another device"],
  unknown: ["warn", "Unknown"],
  mapped: ["good", "Mapped"], conflict: ["bad", "Port held by another mapping"],
  "third-party-refused": ["bad", "Refused: for another device"], timeout: ["bad", "No answer"],
  failed: ["bad", "Failed"], "permanent-only": ["bad", "Router takes only permanent mappings"],
};
function stateBadge(s) {
  const [cls, word] = STATE_WORDS[s] || ["warn", s];
  return el("span", { class: "state " + cls, text: word });
}
function ago(t) {
  if (!t) return "never";
  const s = Math.max(0, Math.round(Date.now() / 1000 - t));
  if (s < 90) return s + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  return Math.round(s / 3600) + " h ago";
}
function dur(s) {
  if (s == null) return "–";
  if (s < 120) return s + " s";
  if (s < 7200) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}
function td(label, content) {
  const c = el("td", { "data-label": label });
  c.append(content == null ? "–" : content);
  return c;
}
function renderStatus(st) {
  const r = st.router || {};
  const router = $("router");
  fill(router, 
    el("h2", { text: "Router" }),
    el("p", {}, "Gateway ", el("strong", { text: r.gateway || "not found" }), " — ",
      el("span", { class: "state " + (r.state === "up" ? "good" : "bad"),
        text: r.state === "up" ? "answering" : (r.state === "unreachable" ? "not answering" : "unknown") }),
      (r.protocols && r.protocols.length) ? " via " + r.protocols.join(", ").toUpperCase() : ""),
    el("p", {}, "Router restarts seen: ", el("strong", { id: "restarts", text: String(r.restarts || 0) }),
      r.last_restart ? " (last " + ago(r.last_restart) + ": " + r.last_restart_reason + ")" : ""),
    r.last_error ? el("p", { class: "msg bad", text: r.last_error }) : null);
  const box = $("devices");
  fill(box, );
  if (!st.devices || st.devices.length === 0) {
    box.append(el("div", { class: "card" }, el("p", {}, "No device yet. ",
      el("a", { href: "#setup", text: "Set up a console" }), ".")));
  }
  for (const d of st.devices || []) {
    const held = d.mappings.filter((m) => m.state === "held" || m.state === "present").length;
    const table = el("table", { class: "stack" },
      el("thead", {}, el("tr", {}, ...["Protocol", "Port", "State", "External", "Lease left", "Last renewal", "Last error"]
        .map((h) => el("th", { scope: "col", text: h })))));
    const tb = el("tbody");
    for (const m of d.mappings) {
      tb.append(el("tr", {}, td("Protocol", m.transport.toUpperCase()), td("Port", String(m.internal_port)),
        td("State", stateBadge(m.state)), td("External", m.external || "–"),
        td("Lease left", dur(m.expires_in)), td("Last renewal", ago(m.last_renewed)),
        td("Last error", m.last_error || "none")));
    }
    table.append(tb);
    box.append(el("div", { class: "card device", "data-device": d.name },
      el("h2", { text: d.name }),
      el("p", {}, d.address + " · " + (d.platform || "no platform") + " · " +
        (d.profiles || []).join(", ") + " · " + (d.mode === "map" ? "natpilot maps" : "the device maps itself")),
      el("p", {}, el("strong", { class: "held-count", text: held + " of " + d.mappings.length }), " ports mapped"),
      table));
  }
  $("status-updated").textContent = "Last update " + new Date().toLocaleTimeString() + ".";
  if (!performance.getEntriesByName("np-status-rendered").length) performance.mark("np-status-rendered");
}
async function refreshStatus() {
  const early = firstStatus ? await firstStatus : null;
  firstStatus = null;
  try { renderStatus(early || await api("/api/v1/status")); } catch (e) { if (e.status !== 401) $("router").textContent = e.message; }
  if (!$("view-status").hidden) statusTimer = setTimeout(refreshStatus, 2000);
}

/* ---- set-up ---- */
function goStep(n) {
  setup.step = n;
  for (let i = 1; i <= 7; i++) $("step-" + i).hidden = i !== n;
  for (const li of $("steps").children) {
    if (Number(li.dataset.step) === n) li.setAttribute("aria-current", "step"); else li.removeAttribute("aria-current");
  }
  const h = $("step-" + n).querySelector("h2");
  if (h) h.focus();
  if (n === 1) loadNetwork();
  if (n === 2) loadDevices();
  if (n === 3) { $("platform").value = setup.platform; searchGames(); }
  if (n === 5) loadPlan();
}
async function loadNetwork() {
  const out = $("net-info");
  out.textContent = "Asking the daemon…";
  try {
    const st = await api("/api/v1/status");
    const r = st.router || {};
    fill(out, el("p", {}, "Router ", el("strong", { text: r.gateway || "not found" }), ": ",
      el("span", { class: "state " + (r.state === "up" ? "good" : "bad"),
        text: r.state === "up" ? "answers " + (r.protocols || []).join(", ").toUpperCase() : "does not answer" })),
      r.state === "up" ? null : el("p", { text: "natpilot cannot ask this router for ports; the plan will list manual forwards." }));
  } catch (e) { out.textContent = e.message; }
}
async function loadDevices() {
  const list = $("dev-list");
  list.textContent = "Reading the neighbour table…";
  try {
    const r = await api("/api/v1/devices");
    fill(list, );
    const lan = r.devices.filter((d) => d.lan);
    if (lan.length === 0) list.append(el("p", { text: "No device seen yet. Type its address below." }));
    for (const d of lan) {
      const id = "dev-" + d.address.replace(/\W/g, "_");
      const input = el("input", { type: "radio", name: "dev", id, value: d.address });
      input.addEventListener("change", () => {
        $("dev-address").value = d.address;
        if (d.platform_hint) setup.platform = d.platform_hint;
        if (!$("dev-name").value) $("dev-name").value = (d.platform_hint || "console") + "-" + d.address.split(".").pop();
      });
      if (setup.address === d.address) input.checked = true;
      list.append(el("label", { class: "choice", for: id }, input,
        el("span", {}, el("strong", { text: d.address }), " ",
          d.vendor ? d.vendor : "unknown maker", d.platform_hint ? " — looks like a " + d.platform_hint : "",
          d.configured_as ? " (already set up as " + d.configured_as + ")" : "")));
    }
  } catch (e) { list.textContent = e.message; }
}
function devNext() {
  const a = $("dev-address").value.trim(), n = $("dev-name").value.trim(), err = $("dev-error");
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(a)) { err.textContent = "Enter the device's IPv4 address, like 192.168.1.20."; err.hidden = false; $("dev-address").focus(); return; }
  if (!n) { err.textContent = "Give the device a name."; err.hidden = false; $("dev-name").focus(); return; }
  err.hidden = true; setup.address = a; setup.name = n;
  goStep(3);
}
let searchSeq = 0;
async function searchGames() {
  const q = $("game-search").value.trim(), seq = ++searchSeq;
  setup.platform = $("platform").value;
  try {
    const r = await api("/api/v1/profiles?platform=" + encodeURIComponent(setup.platform) +
      (q ? "&q=" + encodeURIComponent(q) : ""));
    if (seq !== searchSeq) return;
    const ul = $("game-results");
    fill(ul, );
    for (const p of r.profiles.slice(0, 30)) {
      const b = el("button", { type: "button", "aria-pressed": setup.chosen.has(p.id) ? "true" : "false",
        "data-id": p.id, text: p.name + " (" + p.kind + ")" });
      b.addEventListener("click", () => {
        if (setup.chosen.has(p.id)) setup.chosen.delete(p.id); else setup.chosen.set(p.id, p.name);
        b.setAttribute("aria-pressed", setup.chosen.has(p.id) ? "true" : "false");
        renderChosen();
      });
      ul.append(el("li", {}, b));
    }
    announce(r.profiles.length + " profiles found");
  } catch (e) { $("game-results").textContent = e.message; }
}
function renderChosen() {
  $("chosen").textContent = setup.chosen.size ? [...setup.chosen.values()].join(", ") : "none yet";
}
function gamesNext() {
  if (setup.chosen.size === 0) { const e = $("games-error"); e.textContent = "Choose at least one profile."; e.hidden = false; return; }
  $("games-error").hidden = true;
  goStep(4);
}
function labelsFor(v) {
  const names = { xbox: "Xbox", playstation: "PlayStation", switch: "Switch", generic: "Generic" };
  return el("div", { class: "labels" }, ...Object.entries(names).map(([k, n]) =>
    el("div", { class: k === setup.platform ? "mine" : "" }, n, el("strong", { text: v.labels[k] }))));
}
async function runDiagnosis() {
  const out = $("diag-out"), b = $("diag-run");
  b.disabled = true; out.textContent = "Measuring (about a second)…";
  try {
    const d = await api("/api/v1/diagnose", { method: "POST", json: {} });
    setup.diag = d;
    fill(out, el("h3", { text: "Now (no mapping)" }), labelsFor(d.unmapped),
      el("p", { text: d.unmapped.reason }), el("p", { class: "note", text: d.unmapped.advice }),
      d.unmapped.caveat ? el("p", { class: "muted", text: d.unmapped.caveat }) : null);
    announce("Diagnosis done");
  } catch (e) {
    fill(out, el("p", { class: "msg warn", text: e.message }));
  }
  b.disabled = false;
}
function portsText(r) {
  return r.ports.map((p) => p.lo === p.hi ? String(p.lo) : p.lo + "–" + p.hi).join(", ");
}
async function loadPlan() {
  const out = $("plan-out");
  out.textContent = "Working out the plan…";
  try {
    const p = await api("/api/v1/plan", { method: "POST",
      json: { address: setup.address, platform: setup.platform, profiles: [...setup.chosen.keys()] } });
    setup.plan = p;
    const t = el("table", { class: "stack" }, el("thead", {}, el("tr", {},
      ...["Protocol", "Ports", "Why", "Source"].map((h) => el("th", { scope: "col", text: h })))));
    const tb = el("tbody");
    for (const r of p.map) {
      tb.append(el("tr", {}, td("Protocol", r.protocol.toUpperCase()), td("Ports", portsText(r)),
        td("Why", r.profile + (r.feature ? " — " + r.feature : "") + (r.essential ? " (essential)" : "")),
        td("Source", r.source ? el("a", { href: r.source.url, rel: "noopener noreferrer", text: r.source.title }) : "–")));
    }
    t.append(tb);
    fill(out, el("p", {}, "For ", el("strong", { text: setup.name + " (" + setup.address + ")" }),
      ", natpilot will ask the router for:"), t,
      el("p", { class: "muted", text: p.via ? "Through " + p.via.toUpperCase() + ", the protocol the session chose for this device." :
        "No protocol that answered can map for this device" + (p.discovery_error ? " (" + p.discovery_error + ")" : "") + "." }),
      p.never_mapped.length ? el("p", { class: "msg warn", text: p.never_mapped.length +
        " rule(s) cover a broad range; natpilot never maps those." }) : null,
      p.self_maps_with_upnp ? el("p", { class: "muted", text: "This console can also map its ports itself when UPnP is on in the router." }) : null);
  } catch (e) { fill(out, el("p", { class: "msg bad", text: e.message })); }
}
async function apply() {
  const b = $("apply");
  b.disabled = true;
  goStep(6);
  const text = $("apply-text"), err = $("apply-error"), bar = $("apply-progress");
  err.hidden = true;
  text.textContent = "Adding " + setup.name + " to natpilot's configuration…";
  try {
    await api("/api/v1/setup", { method: "POST", json: { name: setup.name, address: setup.address,
      platform: setup.platform, profiles: [...setup.chosen.keys()],
      mode: $("mode-verify").checked ? "verify" : "map" } });
  } catch (e) {
    err.textContent = e.message; err.hidden = false; b.disabled = false; return;
  }
  text.textContent = "Asking the router…";
  for (let i = 0; i < 60; i++) {
    let st;
    try { st = await api("/api/v1/status"); } catch (e) { break; }
    const d = (st.devices || []).find((x) => x.name === setup.name);
    if (d) {
      setup.device = d;
      /* answered: anything but "pending" (natpilot maps) or "unknown" (the
       * console maps itself: not yet checked in the router's table) */
      const done = d.mappings.filter((m) => m.state !== "pending" && m.state !== "unknown").length;
      bar.max = Math.max(1, d.mappings.length); bar.value = done;
      text.textContent = done + " of " + d.mappings.length + " ports answered";
      if (done === d.mappings.length) break;
    }
    await new Promise((res) => setTimeout(res, 500));
  }
  text.textContent = "Checking the router's table…";
  /* the answer is the mapping session's check of the device (np_session_verify) */
  try {
    setup.report = await api("/api/v1/verify", { method: "POST", json: { name: setup.name } });
  } catch (e) { setup.report = null; err.textContent = e.message; err.hidden = false; }
  b.disabled = false;
  verify();
}
function verify() {
  goStep(7);
  const rep = setup.report, out = $("verify-out");
  if (!rep) { out.textContent = "The router could not be asked: see the error above."; return; }
  const held = rep.rules.filter((m) => m.status === "mapped");
  const refused = rep.rules.filter((m) => m.status !== "mapped");
  fill(out, el("p", {}, el("span", { class: "state " + (refused.length ? "warn" : "good"),
    text: held.length + " of " + rep.rules.length + " ports mapped" })),
    el("ul", {}, ...rep.rules.map((m) => {
      /* what the daemon heard from the router when it asked (refused...) */
      const k = setup.device && m.status !== "mapped" ? setup.device.mappings.find((x) =>
        x.transport === m.protocol && x.internal_port === m.port) : null;
      return el("li", {}, m.protocol.toUpperCase() + " " + m.port + " ",
        stateBadge(m.status), m.external ? " → " + m.external : "", m.via && m.via !== "none" ? " via " + m.via : "",
        m.holder ? " (held by " + m.holder + ")" : "",
        k && k.state !== m.status ? el("span", {}, " — the daemon: ", stateBadge(k.state),
          k.last_error ? " (" + k.last_error + ")" : "") : null);
    })));
  const d = { address: rep.address };
  const ba = $("before-after");
  fill(ba, );
  if (setup.diag) {
    ba.append(el("h3", { text: "Before and after" }), el("p", { text: "Before (no mapping):" }), labelsFor(setup.diag.unmapped),
      el("p", { text: held.length ? "After (the game's ports mapped):" : "After: unchanged, nothing could be mapped" }),
      labelsFor(held.length ? setup.diag.mapped : setup.diag.unmapped));
  }
  $("manual").hidden = refused.length === 0;
  $("manual-addr").textContent = d.address;
  fill($("manual-list"), ...refused.map((m) => el("li", { text: m.protocol.toUpperCase() + " port " + m.port + " → " + d.address + ":" + m.port })));
  $("done-msg").textContent = setup.name + " is in natpilot's configuration; the daemon keeps its mappings alive and re-creates them after a router restart.";
  announce("Set-up finished: " + held.length + " of " + rep.rules.length + " ports mapped");
}

/* ---- the expert form: explicit ports (the library refuses whole ranges and DMZ-like requests) ---- */
async function expertAdd(ev) {
  ev.preventDefault();
  const out = $("expert-out"), b = $("expert-add");
  const name = $("expert-name").value.trim();
  const ports = $("expert-ports").value.split(/[,\s]+/).filter((x) => x);
  b.disabled = true;
  out.textContent = "Adding " + name + "…";
  try {
    await api("/api/v1/expert", { method: "POST",
      json: { name, address: $("expert-address").value.trim(), ports } });
    out.textContent = "Added; asking the router…";
    for (let i = 0; i < 60; i++) {
      const st = await api("/api/v1/status");
      const d = (st.devices || []).find((x) => x.name === name);
      if (d && d.mappings.every((m) => m.state !== "pending" && m.state !== "unknown")) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    const rep = await api("/api/v1/verify", { method: "POST", json: { name } });
    const held = rep.rules.filter((m) => m.status === "mapped").length;
    fill(out, el("p", {}, el("span", { class: "state " + (held === rep.rules.length ? "good" : "warn"),
      text: held + " of " + rep.rules.length + " ports mapped" })),
      el("ul", {}, ...rep.rules.map((m) => el("li", {}, m.protocol.toUpperCase() + " " + m.port + " ", stateBadge(m.status)))));
    announce(name + ": " + held + " of " + rep.rules.length + " ports mapped");
  } catch (e) { fill(out, el("p", { class: "msg bad", role: "alert", text: e.message })); }
  b.disabled = false;
}

/* ---- profiles ---- */
let profSeq = 0;
async function searchProfiles() {
  const q = $("prof-search").value.trim(), seq = ++profSeq;
  try {
    const r = await api("/api/v1/profiles" + (q ? "?q=" + encodeURIComponent(q) : ""));
    if (seq !== profSeq) return;
    const ul = $("prof-list");
    fill(ul, ...r.profiles.slice(0, 60).map((p) => el("li", {}, el("button", { type: "button", "data-id": p.id,
      text: p.name + " — " + p.kind + ", " + p.platforms.join(", "), onclick: () => showProfile(p.id) }))));
    announce(r.profiles.length + " profiles");
  } catch (e) { $("prof-list").textContent = e.message; }
}
async function showProfile(id) {
  const box = $("prof-show");
  try {
    const p = await api("/api/v1/profiles/" + encodeURIComponent(id));
    const rules = (list, title) => {
      const t = el("table", { class: "stack" }, el("caption", { text: title }), el("thead", {}, el("tr", {},
        ...["Protocol", "Ports", "Role", "Source"].map((h) => el("th", { scope: "col", text: h })))));
      const tb = el("tbody");
      for (const r of list) tb.append(el("tr", {}, td("Protocol", r.protocol.toUpperCase()),
        td("Ports", portsText(r) + (r.broad ? " (broad: never mapped)" : "")), td("Role", r.role),
        td("Source", r.source ? el("a", { href: r.source.url, rel: "noopener noreferrer", text: r.source.title + (r.source.official ? " (official)" : "") }) : "–")));
      t.append(tb);
      return t;
    };
    fill(box, el("h2", { text: p.name }),
      el("p", { class: "muted", text: p.id + " · " + p.kind + " · " + p.platforms.join(", ") + " · checked " + p.checked }),
      p.notes ? el("p", { text: p.notes }) : null,
      rules(p.inbound, "Inbound (mapped on the router)"),
      p.outbound.length ? rules(p.outbound, "Outbound (must be allowed out)") : null);
    box.hidden = false;
    box.focus();
  } catch (e) { box.textContent = e.message; box.hidden = false; }
}

/* ---- start ---- */
function debounce(f, ms) { let t; return () => { clearTimeout(t); t = setTimeout(f, ms); }; }
document.addEventListener("DOMContentLoaded", async () => {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  for (const b of document.querySelectorAll("button[data-go]")) b.addEventListener("click", () => goStep(Number(b.dataset.go)));
  $("dev-refresh").addEventListener("click", loadDevices);
  $("dev-next").addEventListener("click", devNext);
  $("games-next").addEventListener("click", gamesNext);
  $("game-search").addEventListener("input", debounce(searchGames, 150));
  $("platform").addEventListener("change", searchGames);
  $("diag-run").addEventListener("click", runDiagnosis);
  $("diag-next").addEventListener("click", () => goStep(5));
  $("apply").addEventListener("click", apply);
  $("expert-form").addEventListener("submit", expertAdd);
  $("prof-search").addEventListener("input", debounce(searchProfiles, 150));
  window.addEventListener("hashchange", route);
  /* the session and, on the status page, the status in one round trip */
  if ((location.hash || "#status") === "#status") {
    firstStatus = fetch("/api/v1/status", { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null)).catch(() => null);
  }
  try { csrf = (await api("/api/v1/session")).csrf; } catch (e) { csrf = null; }
  route();
});
