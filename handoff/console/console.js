// 一窗 staff console (工作台): login, the three views, search, keyboard shortcuts, live events and presence.
// Plain ES modules, no build step, no dependencies. Server text only ever reaches the page as text nodes.
import { api, onLoggedOut, setCsrf } from "./api.js";
import * as appointments from "./appointments.js";
import * as cases from "./cases.js";
import { byId, clear, el, label, setError, show } from "./dom.js";
import * as stats from "./stats.js";
import * as tickets from "./tickets.js";

const ALL_WINDOWS = JSON.parse(document.body.dataset.windows || "[]");
const COMPLAINT_WINDOW = "办不成事反映";
const PRESENCE_SECONDS = 30;
const VIEWS = { cases, tickets, stats, appointments };

const state = { staff: null, view: "cases", events: null, presence: null, reconnect: null, flashTimer: null };

const ctx = {
  staff: () => state.staff,
  view: () => state.view,
  isSupervisor: () => Boolean(state.staff) && ["supervisor", "admin"].includes(state.staff.role),
  // Windows this member may filter by: agents their own (the complaint window sees every case), others all.
  visibleWindows: () => {
    if (!state.staff || ctx.isSupervisor() || state.staff.windows.includes(COMPLAINT_WINDOW)) return ALL_WINDOWS;
    return state.staff.windows;
  },
  // Fill a <select> with every themed window (a case or ticket may go to any of them).
  fillWindows: (select, chosen, except) => {
    clear(select);
    for (const w of ALL_WINDOWS) if (w !== except) select.appendChild(el("option", { value: w }, w));
    if (chosen && chosen !== except) select.value = chosen;
  },
  flash,
};

function flash(message, isError = false) {
  const node = byId("flash");
  node.textContent = message;
  node.classList.toggle("flash--error", isError);
  show(node, true);
  clearTimeout(state.flashTimer);
  state.flashTimer = setTimeout(() => show(node, false), isError ? 8000 : 4000);
}

// ---- login -------------------------------------------------------------------------------------------

function showLogin(message) {
  stopLive();
  show(byId("app"), false);
  show(byId("login-view"), true);
  setError(byId("login-error"), message || "");
  byId("login-password").value = "";
  byId("login-username").focus();
}

async function login(e) {
  e.preventDefault();
  const button = byId("login-submit");
  button.disabled = true;
  let body;
  try {
    body = await api("/api/v1/agent/login", {
      method: "POST", login: true,
      body: { username: byId("login-username").value.trim(), password: byId("login-password").value },
    });
  } catch (err) {
    setError(byId("login-error"), err.message);  // 401 wrong password, 429 too many tries: the server's words
    return;
  } finally {
    button.disabled = false;
    byId("login-password").value = "";
  }
  setCsrf(body.csrf_token);
  await enter(body.staff);
}

async function logout() {
  try {
    await api("/api/v1/agent/logout", { method: "POST" });
  } catch {
    // The session may already be gone; the page is reset either way.
  }
  location.replace("/console/");
}

async function enter(staff) {
  const previous = state.staff;
  state.staff = staff;
  if (previous && previous.username !== staff.username) {
    for (const view of Object.values(VIEWS)) if (view.reset) view.reset();
  }
  show(byId("login-view"), false);
  show(byId("app"), true);
  byId("whoami").textContent = `${staff.display_name || staff.username}（${label("role", staff.role)}）`;
  byId("whoami").title = staff.windows.length ? `窗口：${staff.windows.join("、")}` : "全部窗口";
  show(byId("tab-stats"), ctx.isSupervisor());
  cases.start();
  tickets.start();
  stats.start();
  appointments.start();
  switchView(viewFromHash(), true);
  await Promise.all([cases.refresh(), tickets.refresh()]);
  if (state.view === "stats") await stats.refresh();
  if (state.view === "appointments") await appointments.refresh();
  startLive();
}

// ---- views -------------------------------------------------------------------------------------------

function viewFromHash() {
  const name = location.hash.slice(1);
  if (name === "stats" && !ctx.isSupervisor()) return "cases";
  return VIEWS[name] ? name : "cases";
}

function switchView(name, quiet = false) {
  if (name === "stats" && !ctx.isSupervisor()) return;
  state.view = name;
  for (const tab of document.querySelectorAll(".tab")) {
    const on = tab.dataset.view === name;
    tab.classList.toggle("tab--on", on);
    tab.setAttribute("aria-selected", on ? "true" : "false");
  }
  for (const view of document.querySelectorAll("main.view")) show(view, view.dataset.view === name);
  if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
  if (!quiet) VIEWS[name].refresh();
}

// ---- live events and presence ------------------------------------------------------------------------

function setLive(on) {
  const node = byId("live");
  node.textContent = on ? "实时" : "重连中";
  node.className = `live ${on ? "live--on" : "live--off"}`;
}

function startLive() {
  stopLive();
  const events = new EventSource("/api/v1/agent/events");
  state.events = events;
  let dropped = false;
  events.addEventListener("open", () => {
    setLive(true);
    if (dropped) {  // events may have been missed while away: reload what is on screen
      dropped = false;
      cases.refresh();
      tickets.refresh();
    }
  });
  events.addEventListener("case", (e) => {
    const event = JSON.parse(e.data);
    cases.onEvent(event);
    stats.onEvent(event);
  });
  events.addEventListener("ticket", (e) => tickets.onEvent(JSON.parse(e.data)));
  events.addEventListener("error", () => {
    setLive(false);
    dropped = true;
    if (events.readyState === EventSource.CLOSED) {
      // The server refused the stream (the session may have ended): check, then try again.
      clearTimeout(state.reconnect);
      state.reconnect = setTimeout(async () => {
        try {
          await api("/api/v1/agent/me");
          startLive();
        } catch {
          // 401 already shows the login form; other errors: the next attempt comes with the next action
        }
      }, 3000);
    }
  });
  heartbeat();
  state.presence = setInterval(heartbeat, PRESENCE_SECONDS * 1000);
}

function stopLive() {
  if (state.events) state.events.close();
  state.events = null;
  clearInterval(state.presence);
  clearTimeout(state.reconnect);
  state.presence = null;
  tickets.stop();
  setLive(false);
}

// Tell the queue this member is at the console (only servers with the ticket API have presence).
async function heartbeat() {
  if (!tickets.isAvailable()) return;
  try {
    await api("/api/v1/agent/presence", { method: "POST", body: {} });
  } catch {
    // a missed heartbeat is retried in 30 s; a 401 has already shown the login form
  }
}

// ---- search and keyboard -----------------------------------------------------------------------------

let searchTimer = null;

function onSearch() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    const q = byId("search").value.trim();
    cases.setQuery(q);
    tickets.setQuery(q);
    cases.refresh();
  }, 250);
}

function toggleHelp(open) {
  const help = byId("help");
  show(help, open);
  if (open) byId("help-close").focus();
}

function onKey(e) {
  if (byId("app").hidden) return;
  const target = e.target;
  const typing = target instanceof HTMLElement && target.matches("input, textarea, select");
  if (e.key === "Escape") {
    if (!byId("help").hidden) toggleHelp(false);
    else if (typing) target.blur();
    return;
  }
  if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
    e.preventDefault();
    if (target.id === "reply-text") tickets.sendReply();
    else if (typing && target.form) target.form.requestSubmit();
    return;
  }
  if (typing || e.ctrlKey || e.metaKey || e.altKey || !byId("help").hidden) return;
  const view = VIEWS[state.view];
  const actions = {
    "/": () => byId("search").focus(),
    "?": () => toggleHelp(true),
    j: () => view.move && view.move(1),
    k: () => view.move && view.move(-1),
    r: () => view.focusReply && view.focusReply(),
    a: () => state.view === "tickets" && tickets.claimSelected(),
    1: () => switchView("cases"),
    2: () => switchView("tickets"),
    3: () => switchView("stats"),
    4: () => switchView("appointments"),
  };
  const action = actions[e.key];
  if (action) {
    e.preventDefault();
    action();
  }
}

// ---- start -------------------------------------------------------------------------------------------

function bind() {
  for (const view of Object.values(VIEWS)) view.bind(ctx);
  byId("login-form").addEventListener("submit", login);
  byId("logout-button").addEventListener("click", logout);
  byId("help-button").addEventListener("click", () => toggleHelp(true));
  byId("help-close").addEventListener("click", () => toggleHelp(false));
  byId("help").addEventListener("click", (e) => e.target === byId("help") && toggleHelp(false));
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => switchView(tab.dataset.view));
  byId("search").addEventListener("input", onSearch);
  byId("search").addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      clearTimeout(searchTimer);
      onSearch();
    }
  });
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", () => state.staff && switchView(viewFromHash()));
  onLoggedOut(() => showLogin("登录已失效，请重新登录。"));
}

async function boot() {
  bind();
  try {
    const me = await api("/api/v1/agent/me", { login: true });
    setCsrf(me.csrf_token);
    await enter(me.staff);
  } catch (err) {
    showLogin(err.status === 401 ? "" : err.message);
  }
}

boot();
