// Plattr portal. Every page reads the public API with the browser's session
// and follows /api/v1/events; nothing is rendered from HTML strings (text
// only), so no value from the API can inject markup.
"use strict";

const $ = (sel) => document.querySelector(sel);

// el builds an element: el("td", {class: "x"}, "text", child, …).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

class APIError extends Error {
  constructor(status, body) {
    super((body && body.error) || "HTTP " + status);
    this.status = status;
    this.body = body || {};
  }
}

async function api(method, path, body) {
  const opts = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  if (r.status === 401) {
    location.href = "/auth/login?return_to=" + encodeURIComponent(location.pathname + location.search);
    throw new APIError(401, { error: "signing in…" });
  }
  const text = await r.text();
  const data = text ? JSON.parse(text) : null;
  if (!r.ok) throw new APIError(r.status, data);
  return data;
}

function badge(value) {
  return el("span", { class: "status s-" + value }, value || "—");
}

function ago(iso) {
  if (!iso) return "";
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return Math.round(s) + "s";
  if (s < 3600) return Math.round(s / 60) + "m";
  if (s < 86400) return Math.round(s / 3600) + "h";
  return Math.round(s / 86400) + "d";
}

function until(iso) {
  const s = Math.max(0, (new Date(iso).getTime() - Date.now()) / 1000);
  if (s < 3600) return Math.round(s / 60) + "m";
  if (s < 86400) return Math.round(s / 3600) + "h";
  return Math.round(s / 86400) + "d";
}

function table(headers, rows, caption) {
  // A region that may scroll sideways on a narrow screen takes the focus,
  // so it can be scrolled from the keyboard.
  return el("div", { class: "scroll", tabindex: "0", role: "region", "aria-label": caption || headers.filter(Boolean).join(", ") }, el("table", {},
    caption ? el("caption", { class: "help" }, caption) : null,
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h || el("span", { class: "sr-only" }, "Actions"))))),
    el("tbody", {}, rows)));
}

function banner(text) {
  const b = $("#banner");
  b.textContent = text || "";
  b.hidden = !text;
}

// live follows the event stream; onEvent gets each event the user may see.
// EventSource reconnects by itself and sends Last-Event-ID, so nothing is
// missed; the banner says when the connection is down.
// A stream too far behind to be replayed gets a "reload" event: the page
// loads the current state again. A stream the server ends for good (the
// session ended, or too many open tabs) is closed and says so.
// The kinds come from /assets/events.js, generated from package api/events.
function live(onEvent, onOpen) {
  const es = new EventSource("/api/v1/events");
  es.onopen = () => { banner(""); if (onOpen) onOpen(); };
  es.onerror = () => banner(es.readyState === EventSource.CLOSED
    ? "Live updates stopped: your session may have ended, or too many tabs are open. Reload the page (or sign in again)."
    : "Connection lost: reconnecting… (changes made meanwhile will appear)");
  for (const kind of PlattrEvents.all) {
    es.addEventListener(kind, (e) => onEvent(JSON.parse(e.data)));
  }
  es.addEventListener(PlattrEvents.reload, () => location.reload());
  return es;
}

// follow opens the stream before the page's first load and holds its
// events until that load is done (start), then applies them in order on
// top of it: a payload is the state at its moment and the last event of a
// row is its newest, so nothing that changed while the page loaded is
// lost. opened resolves once the server has subscribed the stream (or
// after 3 s without it: the page still loads).
function follow(onEvent) {
  let queue = [];
  let opened;
  const ready = new Promise((resolve) => { opened = resolve; setTimeout(resolve, 3000); });
  live((e) => { if (queue) queue.push(e); else onEvent(e); }, opened);
  return {
    opened: ready,
    start() { const q = queue || []; queue = null; for (const e of q) onEvent(e); },
  };
}

// later coalesces calls made in one burst into one, on the next frame
// (or after ms).
function later(f, ms) {
  let t = null;
  return () => { if (t === null) t = setTimeout(() => { t = null; f(); }, ms || 30); };
}

// sequenced wraps a loader so that the answer of a call overtaken by a
// later one is dropped: the loader gets a stale() check to ask after each
// await, and an older read arriving late never overwrites a newer one.
function sequenced(load) {
  let n = 0;
  return () => {
    const mine = ++n;
    return load(() => mine !== n);
  };
}

async function whoami() {
  const me = await api("GET", "/api/v1/me");
  $("#who").textContent = me.user.email + (me.user.siteAdmin ? " (site admin)" : "");
  return me;
}

// ---- catalog ---------------------------------------------------------------

// byName orders apps as the API lists them: by namespace, then name.
function byName(a, b) {
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

// The catalog's page size: ?limit= on the page's URL (1 to 1000), else 500.
function pageSize() {
  const n = Number(new URLSearchParams(location.search).get("limit"));
  return Number.isInteger(n) && n >= 1 && n <= 1000 ? n : 500;
}

// listAll reads every page of a listing, following "continue".
async function listAll(path, stale) {
  const items = [];
  let cont = "";
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api("GET", path + sep + "limit=" + pageSize() + (cont ? "&continue=" + encodeURIComponent(cont) : ""));
    if (stale()) return null;
    items.push(...page.items);
    cont = page.continue || "";
  } while (cont);
  return items;
}

async function catalogPage() {
  await whoami();
  const K = PlattrEvents.kind;
  const feed = follow((e) => onEvent(e));
  const apps = new Map(); // "namespace/name" → summary
  const tenants = new Map(); // tenant → its namespaces
  let tenantOf = {};
  const key = (ns, name) => ns + "/" + name;
  const matches = (a) => {
    const q = $("#q").value.toLowerCase(), env = $("#env").value, tenant = $("#tenant").value;
    return (!q || a.name.includes(q) || a.namespace.includes(q)) && (!env || a.environment === env) && (!tenant || tenantOf[a.namespace] === tenant);
  };
  const rowsOf = (a) => {
    const k = key(a.namespace, a.name);
    return [el("tr", { "data-app": k },
      el("td", {}, el("a", { href: "/apps/" + a.namespace + "/" + a.name }, a.name)),
      el("td", {}, a.namespace), el("td", {}, tenantOf[a.namespace] || "—"), el("td", {}, a.environment),
      el("td", {}, badge(a.phase || "Pending")),
      el("td", { class: "hide-narrow" }, a.url ? el("a", { href: a.url }, a.url) : "—"),
      el("td", { class: "hide-narrow" }, el("code", {}, a.image || "—")),
      el("td", {}, ago(a.createdAt))),
    // Previews under their app.
    ...(a.previews || []).map((p) => el("tr", { class: "preview", "data-app": k },
      el("td", {}, "↳ PR #" + p.pullRequest), el("td", {}, a.namespace), el("td", {}, tenantOf[a.namespace] || "—"),
      el("td", {}, "preview"), el("td", {}, badge(p.phase || "Pending")),
      el("td", { class: "hide-narrow" }, p.url ? el("a", { href: p.url }, p.url) : "—"),
      el("td", { class: "hide-narrow" }, el("code", {}, p.image)),
      el("td", {}, p.expiresAt ? "expires in " + until(p.expiresAt) : "")))];
  };
  const caption = (shown) => shown + " of " + apps.size + " apps";
  const render = () => {
    const shown = [...apps.values()].filter(matches).sort(byName);
    $("#catalog").replaceChildren(shown.length ? table(["App", "Namespace", "Tenant", "Environment", "Phase", "URL", "Image", "Age"],
      shown.flatMap(rowsOf), caption(shown.length)) : el("p", {}, "No apps match."));
    // Narrow screens hide two columns; keep the headers in step.
    document.querySelectorAll("#catalog th:nth-child(6), #catalog th:nth-child(7)").forEach((th) => th.classList.add("hide-narrow"));
  };
  // patch redraws one app's rows in place (or removes them), without
  // touching the others.
  const patch = (k) => {
    const body = $("#catalog tbody");
    if (!body) return render();
    const old = [...body.querySelectorAll("tr")].filter((tr) => tr.dataset.app === k);
    const a = apps.get(k);
    const rows = a && matches(a) ? rowsOf(a) : [];
    if (old.length) {
      old[0].before(...rows);
      old.forEach((tr) => tr.remove());
    } else if (rows.length) {
      const after = [...body.querySelectorAll("tr")].find((tr) => {
        const [ns, ...name] = tr.dataset.app.split("/");
        return byName({ namespace: ns, name: name.join("/") }, a) > 0;
      });
      if (after) after.before(...rows); else body.append(...rows);
    }
    const shown = [...apps.values()].filter(matches).length;
    if (!shown) return render();
    $("#catalog caption").textContent = caption(shown);
  };
  const tenantOptions = () => {
    tenantOf = {};
    for (const [name, nss] of tenants) for (const ns of nss) tenantOf[ns] = name;
    const sel = $("#tenant"), current = sel.value;
    sel.replaceChildren(el("option", { value: "" }, "All"), ...[...tenants.keys()].sort().map((n) => el("option", { value: n }, n)));
    sel.value = current;
  };
  const load = sequenced(async (stale) => {
    const [items, ts] = await Promise.all([listAll("/api/v1/apps", stale), api("GET", "/api/v1/tenants")]);
    if (stale() || items === null) return;
    apps.clear();
    for (const a of items) apps.set(key(a.namespace, a.name), a);
    tenants.clear();
    for (const t of ts) tenants.set(t.name, t.namespaces.map((n) => n.name));
    tenantOptions();
    render();
  });
  // A preview changed: read its app (one request) for its previews.
  const previewsOf = async (ns, name) => {
    try {
      const a = await api("GET", "/api/v1/apps/" + encodeURIComponent(ns) + "/" + encodeURIComponent(name));
      const row = apps.get(key(ns, name));
      if (row) { row.previews = a.previews || []; patch(key(ns, name)); }
    } catch (err) {
      if (err.status !== 404) throw err;
    }
  };
  const reloadSoon = later(load, 100);
  const onEvent = (e) => {
    const d = e.data || {};
    if (e.kind === K.app) {
      const k = key(e.namespace, e.app);
      if (d.deleted) apps.delete(k);
      else {
        const prev = apps.get(k) || { namespace: e.namespace, name: e.app, previews: [] };
        apps.set(k, Object.assign({}, prev, {
          environment: d.environment ?? prev.environment, framework: d.framework ?? prev.framework, phase: d.phase,
          url: d.url, image: d.image, ready: d.ready, deleting: d.deleting, createdAt: d.createdAt ?? prev.createdAt,
        }));
      }
      patch(k);
    } else if (e.kind === K.resource && d.kind === "PreviewEnvironment") {
      previewsOf(e.namespace, e.app);
    } else if (e.kind === K.tenant) {
      if (d.deleted) tenants.delete(e.app); else tenants.set(e.app, (d.namespaces || []).map((n) => n.name));
      tenantOptions();
      render();
    } else if (e.kind === K.roles) {
      // What this user may see changed: the list itself is another.
      reloadSoon();
    }
  };
  for (const id of ["#q", "#env", "#tenant"]) $(id).addEventListener("input", render);
  await feed.opened;
  await load();
  feed.start();
}

// ---- app ---------------------------------------------------------------------

async function appPage() {
  await whoami();
  const [, , ns, name] = location.pathname.split("/").map(decodeURIComponent);
  const base = "/api/v1/apps/" + encodeURIComponent(ns) + "/" + encodeURIComponent(name);
  $("#logs-cmd").textContent = "plattr logs " + name + " -n " + ns + " -f";
  $("#logs-link").href = base + "/logs";
  let app = null;
  let replicas = "—"; // the Deployment's summary, from the resources

  const act = async (label, method, path, body) => {
    $("#action-result").textContent = label + "…";
    try {
      const t = await api(method, path, body);
      $("#action-result").textContent = label + ": task " + (t && t.id) + " recorded (" + (t && t.state) + ").";
      if (t && t.id) recorded(t);
    } catch (err) {
      $("#action-result").textContent = label + " refused: " + err.message;
    }
  };

  const renderActions = (actions) => {
    const p = app.permissions || {};
    const box = $("#actions");
    box.replaceChildren();
    if (p.operate) {
      box.append(el("button", { type: "button", onclick: () => act("Restart", "POST", base + "/restart") }, "Restart"));
      box.append(el("button", { type: "button", class: "secondary", onclick: () => act("Reinstall", "POST", base + "/reinstall", { reason: "from the portal" }) }, "Reinstall"));
      for (const a of actions) {
        box.append(el("button", { type: "button", class: "secondary", title: a.description, onclick: () => act(a.name, "POST", base + "/actions/" + a.name) }, a.name));
      }
    }
    if (p.delete) {
      box.append(el("button", { type: "button", class: "danger", onclick: () => {
        if (confirm("Uninstall " + name + "? Its data follows its deletion policy.")) act("Uninstall", "DELETE", base);
      } }, "Uninstall"));
    }
    $("#deploy").hidden = !p.operate;
    $("#preview").hidden = !p.operate;
    $("#actions-section").hidden = !p.operate && !p.delete;
  };

  // renderStatus shows what an app event carries: phase, URL, image,
  // conditions (the rest comes with the app read in full).
  const renderStatus = () => {
    const ready = (app.conditions.find((c) => c.type === "Ready") || {}).status;
    $("#facts").replaceChildren(
      el("dt", {}, "Phase"), el("dd", { id: "phase" }, badge(app.phase || "Pending")),
      el("dt", {}, "Ready"), el("dd", {}, badge(ready || "Unknown")),
      el("dt", {}, "URL"), el("dd", {}, app.url ? el("a", { href: app.url }, app.url) : "—"),
      el("dt", {}, "Image"), el("dd", {}, el("code", {}, app.image || "—")),
      el("dt", {}, "Namespace"), el("dd", {}, ns),
      el("dt", {}, "Environment"), el("dd", {}, app.environment),
      el("dt", {}, "Replicas"), el("dd", { id: "replicas" }, replicas),
      app.reported ? [el("dt", {}, "Reported status"), el("dd", {}, app.reported.ok ? JSON.stringify(app.reported.body) : app.reported.error)] : [],
      // The app's NATS user: its state, subjects and expiry (never its creds).
      ...(app.messaging ? [el("dt", {}, "NATS user"), el("dd", { id: "nats-user" },
        badge(app.messaging.phase || "Pending"), " ", app.messaging.account,
        app.messaging.expiresAt ? ` · expires ${app.messaging.expiresAt}` : "",
        ` · publish ${(app.messaging.publish || []).join(", ") || "—"} · subscribe ${(app.messaging.subscribe || []).join(", ") || "—"}`,
        app.messaging.phase === "Running" ? "" : ` · ${app.messaging.message || ""}`)] : []));
    $("#conditions").replaceChildren(table(["Type", "Status", "Reason", "Message"], app.conditions.map((c) =>
      el("tr", {}, el("td", {}, c.type), el("td", {}, badge(c.status)), el("td", {}, c.reason), el("td", {}, c.message)))));
  };

  const loadApp = sequenced(async (stale) => {
    const got = await api("GET", base);
    if (stale()) return;
    app = got;
    $("#title").textContent = name;
    document.title = name + " · Plattr";
    renderStatus();
    // spec.api's paths on the shared host: a conflicted one names who holds it.
    const routes = app.apiRoutes || [];
    $("#api-section").hidden = routes.length === 0;
    $("#api-routes").replaceChildren(table(["Route", "State", "Held by", "Message"], routes.map((r) =>
      el("tr", {}, el("td", {}, el("code", {}, (app.apiHost || "") + r.path)), el("td", {}, badge(r.state)),
        el("td", {}, r.owner || "—"), el("td", {}, r.message || "")))));
    const vars = app.spec.envVars || [];
    // Names only: a value may be a secret's, and secret values never leave the cluster.
    $("#envvars").replaceChildren(vars.length ? el("ul", {}, vars.map((v) => el("li", {}, el("code", {}, v.name),
      v.secretKeyRef ? " (from Secret " + v.secretKeyRef.name + ")" : ""))) : el("p", {}, "None besides the platform's own."));
    $("#image").value = app.image || "";
    const actions = await api("GET", base + "/actions");
    if (!stale()) renderActions(actions);
  });

  // The resources and the history are kept here and patched from events;
  // each is read whole once, when the page loads.
  const resources = new Map(); // "kind/name" → resource
  const renderResources = () => {
    const rs = [...resources.values()].sort((a, b) => a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    const dep = resources.get("Deployment/" + name);
    replicas = dep ? dep.summary : "—";
    if ($("#replicas")) $("#replicas").textContent = replicas;
    const p = (app && app.permissions) || {};
    $("#resources").replaceChildren(rs.length ? table(["Kind", "Name", "Status", "Summary", ""], rs.map((r) => el("tr", {},
      el("td", {}, r.kind), el("td", {}, r.name), el("td", {}, badge(r.status)), el("td", {}, r.summary),
      el("td", {}, r.kind === "PreviewEnvironment" && p.operate ? el("button", { type: "button", class: "secondary",
        onclick: () => act("Delete preview " + r.name, "DELETE", base + "/previews/" + r.name) }, "Delete preview") : "")))) :
      el("p", {}, "No resources yet."));
  };
  const loadResources = async () => {
    const rs = await api("GET", base + "/resources");
    resources.clear();
    for (const r of rs) resources.set(r.kind + "/" + r.name, r);
    renderResources();
  };

  const tasks = new Map(); // id → task
  const taskRow = (t) => el("tr", { "data-task": t.id },
    el("td", {}, t.id), el("td", {}, t.operation + (t.request && t.request.action ? " " + t.request.action : "")),
    el("td", {}, badge(t.state), t.reason ? el("div", { class: "help" }, t.reason) : null),
    el("td", {}, t.actor), el("td", {}, el("time", { datetime: t.createdAt }, ago(t.createdAt) + " ago")),
    el("td", {}, (t.diff || []).length ? el("ul", { class: "diff" }, t.diff.slice(0, 8).map((d) =>
      el("li", {}, el("code", {}, d.path), ": ", JSON.stringify(d.from ?? null), " → ", JSON.stringify(d.to ?? null)))) : "—"));
  const renderHistory = () => {
    const ts = [...tasks.values()].sort((a, b) => b.id - a.id);
    $("#history").replaceChildren(ts.length ? table(["#", "Operation", "State", "By", "When", "Changes"], ts.map(taskRow)) :
      el("p", {}, "No tasks yet."));
  };
  // putTask patches the task's row (or adds it, newest first).
  const putTask = (t) => {
    tasks.set(t.id, t);
    const body = $("#history tbody"), old = $('#history tr[data-task="' + t.id + '"]');
    if (old) return old.replaceWith(taskRow(t));
    if (!body) return renderHistory();
    const after = [...body.querySelectorAll("tr")].find((tr) => Number(tr.dataset.task) < t.id);
    if (after) after.before(taskRow(t)); else body.append(taskRow(t));
  };
  const loadHistory = async () => {
    const ts = await api("GET", base + "/tasks");
    tasks.clear();
    for (const t of ts) tasks.set(t.id, t);
    renderHistory();
  };
  // onTask patches a known task from its event; a new one is read once
  // (its request and diff are not in the event). An event arriving while
  // the task is being read makes it read again: the read may predate it.
  const fetching = new Map(); // id → an event arrived meanwhile
  const onTask = async (d) => {
    if (fetching.has(d.id)) return void fetching.set(d.id, true);
    const known = tasks.get(d.id);
    if (known) return putTask(Object.assign({}, known, { state: d.state, reason: d.reason }));
    fetching.set(d.id, false);
    try {
      for (;;) {
        const t = await api("GET", "/api/v1/tasks/" + d.id);
        if (!fetching.get(d.id)) { putTask(t); break; }
        fetching.set(d.id, false);
      }
    } finally {
      fetching.delete(d.id);
    }
  };
  // The task an action recorded, unless its events got there first.
  const recorded = (t) => { if (!tasks.has(t.id) && !fetching.has(t.id)) putTask(t); };

  $("#deploy").addEventListener("submit", (e) => {
    e.preventDefault();
    const spec = Object.assign({}, app.spec, { imageRef: $("#image").value.trim() });
    act("Deploy " + spec.imageRef, "PUT", base, { spec });
  });
  $("#preview").addEventListener("submit", (e) => {
    e.preventDefault();
    act("Create preview", "POST", base + "/previews", { pullRequest: Number($("#pr").value), imageRef: $("#pr-image").value.trim() });
  });

  const K = PlattrEvents.kind;
  const refreshApp = later(loadApp, 50);
  const feed = follow((e) => {
    if (e.kind === K.roles && e.namespace === ns) return refreshApp(); // what this user may do may have changed
    if (e.namespace !== ns || e.app !== name) return;
    const d = e.data || {};
    if (e.kind === K.task) onTask(d);
    else if (e.kind === K.resource) {
      if (d.deleted) resources.delete(d.kind + "/" + d.name); else resources.set(d.kind + "/" + d.name, d);
      renderResources();
    } else if (e.kind === K.app) {
      if (d.deleted) {
        $("#title").textContent = name + " was deleted";
      } else if (app) {
        Object.assign(app, { phase: d.phase, url: d.url, image: d.image, conditions: d.conditions || [] });
        renderStatus();
      }
    } else if (e.kind === K.status) refreshApp(); // the body is read with the app
  });
  await feed.opened;
  try {
    await loadApp();
  } catch (err) {
    $("#title").textContent = err.status === 404 ? name + " does not exist" : "Cannot show " + name;
    $("#facts").replaceChildren(el("dd", {}, err.message));
    return;
  }
  await Promise.all([loadResources(), loadHistory()]);
  feed.start();
}

// ---- tenants -----------------------------------------------------------------

function tenantRow(t) {
  return el("tr", { "data-tenant": t.name },
    el("td", {}, t.name), el("td", {}, t.displayName || "—"), el("td", {}, badge(t.phase || "Pending")),
    el("td", {}, t.namespaces.map((n) => n.name).join(", ") || "—"), el("td", {}, t.quota),
    el("td", {}, t.members.map((m) => m.email + " (" + m.role + ")").join(", ")));
}

async function tenantsPage() {
  const me = await whoami();
  const load = sequenced(async (stale) => {
    const ts = await api("GET", "/api/v1/tenants");
    if (stale()) return;
    $("#tenants").replaceChildren(ts.length ? table(["Tenant", "Team", "Phase", "Namespaces", "Quota", "Members"], ts.map(tenantRow)) :
      el("p", {}, "You belong to no tenant yet."));
  });
  const form = $("#new-tenant");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    form.querySelectorAll(".error").forEach((p) => { p.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach((i) => i.removeAttribute("aria-invalid"));
    const members = [];
    for (const line of $("#t-members").value.split("\n").map((l) => l.trim()).filter(Boolean)) {
      const [email, role] = line.split(/[\s,]+/);
      members.push({ email, role: role || "User" });
    }
    const body = {
      name: $("#t-name").value.trim(), displayName: $("#t-display").value.trim(), members,
      environments: [...form.querySelectorAll("input[name=environments]:checked")].map((i) => i.value),
      quota: $("#t-quota").value,
    };
    try {
      await api("POST", "/api/v1/tenants", body);
      form.reset();
      await load();
      $("#t-form-error").textContent = "";
    } catch (err) {
      showFieldErrors(form, err);
    }
  });
  // A tenant's event patches its row (read once: the row shows more than
  // the event carries); a role changed reads the list again (members' roles).
  const K = PlattrEvents.kind;
  const reload = later(load, 100);
  const onTenant = async (tenantName, deleted) => {
    const row = [...document.querySelectorAll("#tenants tr[data-tenant]")].find((tr) => tr.dataset.tenant === tenantName);
    let t = null;
    if (!deleted) {
      try { t = await api("GET", "/api/v1/tenants/" + encodeURIComponent(tenantName)); } catch (err) { if (err.status !== 404 && err.status !== 403) throw err; }
    }
    if (row && t) row.replaceWith(tenantRow(t));
    else if (row) row.remove();
    else if (t) reload(); // a new tenant: its place in the list
  };
  const feed = follow((e) => {
    if (e.kind === K.tenant) onTenant(e.app, e.data && e.data.deleted);
    else if (e.kind === K.roles) reload();
  });
  await feed.opened;
  await load();
  feed.start();
  void me;
}

// showFieldErrors puts each error next to its field: the API names the
// field in "field" or, for a spec the cluster refuses, in "fields".
function showFieldErrors(form, err) {
  const fields = Object.assign({}, err.body.fields || {});
  if (err.body.field) fields[err.body.field] = err.message;
  let placed = false;
  for (const [path, msg] of Object.entries(fields)) {
    for (const p of form.querySelectorAll(".error[data-field]")) {
      if (p.dataset.field.split(" ").some((f) => path === f || path.startsWith(f + "[") || path.startsWith(f + "."))) {
        p.textContent = msg;
        const input = document.getElementById(p.id.replace(/-error$/, "")) || p.closest(".field").querySelector("input, select, textarea");
        if (input) input.setAttribute("aria-invalid", "true");
        placed = true;
      }
    }
  }
  if (!placed) $("#t-form-error").textContent = err.message;
  const first = form.querySelector("[aria-invalid]");
  if (first) first.focus();
}

// ---- costs -------------------------------------------------------------------

async function costsPage() {
  await whoami();
  const day = (d) => d.toISOString().slice(0, 10);
  const now = new Date();
  $("#to").value = day(new Date(now.getTime() + 86400000));
  $("#from").value = day(new Date(now.getTime() - 30 * 86400000));
  let chart = null;
  const load = sequenced(async (stale) => {
    let sum;
    try {
      sum = await api("GET", "/api/v1/costs/summary?from=" + $("#from").value + "&to=" + $("#to").value);
      if (stale()) return;
    } catch (err) {
      if (stale()) return;
      $("#costs").replaceChildren(el("p", { class: "error" }, err.message));
      return;
    }
    const rows = [], labels = [], values = [];
    for (const t of sum.tenants) {
      for (const a of t.apps) {
        rows.push(el("tr", {}, el("td", {}, t.tenant || "(shared)"), el("td", {}, a.namespace + "/" + a.app),
          el("td", {}, a.cpuCoreHours.toFixed(2)), el("td", {}, a.memoryGiBHours.toFixed(2)), el("td", {}, a.cost.toFixed(4) + " " + sum.prices.currency)));
        labels.push(a.namespace + "/" + a.app);
        values.push(a.cost);
      }
    }
    $("#costs").replaceChildren(el("p", {}, "Total: " + sum.total.toFixed(4) + " " + sum.prices.currency +
      " (CPU " + sum.prices.cpuCoreHour + "/core-hour, memory " + sum.prices.memoryGiBHour + "/GiB-hour)"),
      rows.length ? table(["Tenant", "App", "CPU core-hours", "Memory GiB-hours", "Cost"], rows) : el("p", {}, "No usage in this period."));
    if (window.Chart) {
      if (chart) chart.destroy();
      chart = new window.Chart($("#chart"), {
        type: "bar",
        data: { labels, datasets: [{ label: "Cost (" + sum.prices.currency + ")", data: values, backgroundColor: "#0b57d0" }] },
        options: { responsive: true, maintainAspectRatio: false, animation: false },
      });
    } else {
      $(".chart").replaceChildren(el("p", { class: "help" }, "The chart library is not built into this binary (make portal-assets)."));
    }
  });
  $("#range").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  await load();
}

const pages = { catalog: catalogPage, app: appPage, tenants: tenantsPage, costs: costsPage };
document.addEventListener("DOMContentLoaded", () => {
  const run = pages[document.body.dataset.page];
  if (run) run().catch((err) => { if (err.status !== 401) banner("Something went wrong: " + err.message); });
});
