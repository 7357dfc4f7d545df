// 工单 (转人工): the queues per window, waiting and served tickets, and the open ticket as a chat with the
// citizen: reply (with canned replies), internal notes, transfer to another window, release, close.
import { api, query } from "./api.js";
import { byId, clear, el, input, label, setError, show, waitWords, when } from "./dom.js";

let ctx = null;
const state = {
  available: null, queues: [], fetchedAt: 0, window: "", filter: "waiting", tickets: [], selected: null,
  detail: null, canned: new Map(), unread: new Set(), q: "", loading: 0, detailLoading: 0,
};
let ticker = null;

export function bind(context) {
  ctx = context;
  for (const chip of document.querySelectorAll("[data-ticket-filter]")) {
    chip.addEventListener("click", () => setFilter(chip.dataset.ticketFilter));
  }
  byId("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    sendReply();
  });
  byId("note-send").addEventListener("click", () => sendNote());
  byId("ticket-claim").addEventListener("click", () => state.selected && claim(state.selected));
  byId("ticket-release").addEventListener("click", () => act("release", {}, "已退回队列"));
  byId("ticket-transfer-open").addEventListener("click", () => toggleForm("ticket-transfer"));
  byId("ticket-close-open").addEventListener("click", () => toggleForm("ticket-close"));
  byId("ticket-transfer").addEventListener("submit", (e) => {
    e.preventDefault();
    const form = e.target;
    const window = input(form, "window").value;
    act("transfer", { window, note: input(form, "note").value }, `已转至${window}窗口`).then((ok) => ok && form.reset());
  });
  byId("ticket-close").addEventListener("submit", (e) => {
    e.preventDefault();
    act("close", { note: input(e.target, "note").value }, "服务已结束").then((ok) => ok && e.target.reset());
  });
  for (const cancel of document.querySelectorAll("#ticket-detail [data-cancel]")) {
    cancel.addEventListener("click", () => show(cancel.closest("form"), false));
  }
}

export function isAvailable() {
  return state.available === true;
}

export function start() {
  document.querySelector('[data-ticket-filter="serving"]').hidden = !ctx.isSupervisor();
  markFilter();
  clearInterval(ticker);
  ticker = setInterval(tick, 1000);
}

export function stop() {
  clearInterval(ticker);
  ticker = null;
}

export function reset() {
  Object.assign(state, { queues: [], tickets: [], selected: null, detail: null, window: "", filter: "waiting" });
  state.unread.clear();
  clear(byId("ticket-list"));
  clear(byId("queue-rows"));
  show(byId("ticket-detail"), false);
  show(byId("ticket-empty"), true);
}

export function setQuery(q) {
  state.q = q.trim().toLowerCase();
  renderList();
}

export async function refresh() {
  const ticket = ++state.loading;
  try {
    const queues = await api("/api/v1/agent/queues");
    state.available = true;
    const params = { status: state.filter === "mine" ? "serving" : state.filter, window: state.window,
      mine: state.filter === "mine" || (state.filter === "closed" && !ctx.isSupervisor()) ? "1" : "" };
    const body = await api(`/api/v1/agent/tickets${query(params)}`);
    if (ticket !== state.loading) return;
    state.queues = queues.queues;
    state.fetchedAt = Date.now();
    state.tickets = body.tickets;
  } catch (err) {
    if (err.status === 404 && state.available !== true) {
      state.available = false;  // this server has no ticket API yet
      show(byId("tickets-unavailable"), true);
      show(byId("tickets-body"), false);
      byId("tab-tickets").classList.add("tab--muted");
      return;
    }
    ctx.flash(err.message, true);
    return;
  }
  show(byId("tickets-unavailable"), false);
  show(byId("tickets-body"), true);
  renderQueues();
  renderList();
  if (state.selected) await loadDetail(state.selected);
}

function renderQueues() {
  const rows = clear(byId("queue-rows"));
  let waiting = 0;
  for (const q of state.queues) {
    waiting += q.waiting;
    rows.appendChild(el("tr", {
      class: `${q.window === state.window ? "queue--on" : ""}${q.waiting ? " queue--busy" : ""}`,
      title: "点击只看这个窗口", onclick: () => {
        state.window = state.window === q.window ? "" : q.window;
        refresh();
      },
    },
    el("td", {}, q.window),
    el("td", { class: "num" }, String(q.waiting)),
    el("td", { class: "num", dataset: { waitBase: String(q.waiting ? q.longest_wait_seconds : -1) } },
      q.waiting ? waitWords(q.longest_wait_seconds) : "—"),
    el("td", { class: "num" }, String(q.serving))));
  }
  const badge = byId("tickets-badge");
  badge.textContent = String(waiting);
  show(badge, waiting > 0);
  document.title = waiting ? `(${waiting}) 一窗 · 工作台` : "一窗 · 工作台";
}

function matches(t) {
  if (!state.q) return true;
  const hay = [`#${t.id}`, t.number, t.window, t.summary, t.reason, t.staff, label("channel", t.channel),
    t.context && t.context.item, t.context && t.context.intent].filter(Boolean).join(" ").toLowerCase();
  return hay.includes(state.q);
}

function visibleTickets() {
  return state.tickets.filter(matches);
}

function renderList() {
  const list = clear(byId("ticket-list"));
  const rows = visibleTickets();
  if (!rows.length) {
    list.appendChild(el("li", { class: "empty" }, state.q ? "没有符合搜索的工单。" : {
      waiting: "暂无等待中的群众。", mine: "您当前没有服务中的工单。", serving: "暂无服务中的工单。",
      closed: "暂无已结束的工单。",
    }[state.filter]));
    return;
  }
  for (const t of rows) {
    const selected = t.id === state.selected;
    const since = t.status === "waiting" ? t.created_at : t.claimed_at;
    list.appendChild(el("li", {
      class: `row ticket-row ticket-row--${t.status}${selected ? " row--selected" : ""}${state.unread.has(t.id) ? " row--unread" : ""}`,
      role: "option", "aria-selected": selected ? "true" : "false", tabindex: "-1", dataset: { id: String(t.id) },
      onclick: () => select(t.id),
    },
    el("div", { class: "row__top" },
      el("strong", { class: "row__id" }, ticketName(t)),
      el("span", { class: "pill" }, t.window),
      t.status === "closed" ? el("span", { class: "muted" }, when(t.closed_at))
        : el("span", { class: "wait", dataset: { since: since || "", prefix: t.status === "waiting" ? "已等" : "已服务" } },
          since ? `${t.status === "waiting" ? "已等" : "已服务"} ${waitWords(ago(since))}` : "")),
    el("div", { class: "row__main" }, t.summary || label("ticketReason", t.reason) || "（未说明）"),
    el("div", { class: "row__sub" },
      label("channel", t.channel),
      t.position ? ` · 第 ${t.position} 位` : "",
      t.staff ? ` · ${t.staff}` : "",
      t.context && t.context.item ? ` · ${t.context.item}` : ""),
    t.status === "waiting" ? el("button", {
      type: "button", class: "btn btn--primary btn--small row__action", onclick: (e) => {
        e.stopPropagation();
        claim(t.id);
      },
    }, "接单") : null));
  }
}

// The ticket's number where the server gives one (ZR…), else its id.
function ticketName(t) {
  return t.number || `#${t.id}`;
}

function ago(iso) {
  return (Date.now() - Date.parse(iso)) / 1000;
}

function tick() {
  for (const node of document.querySelectorAll("#ticket-list [data-since]")) {
    if (node.dataset.since) node.textContent = `${node.dataset.prefix} ${waitWords(ago(node.dataset.since))}`;
  }
  const elapsed = (Date.now() - state.fetchedAt) / 1000;
  for (const node of document.querySelectorAll("#queue-rows [data-wait-base]")) {
    const base = Number(node.dataset.waitBase);
    if (base >= 0) node.textContent = waitWords(base + elapsed);
  }
}

function setFilter(filter) {
  state.filter = filter;
  markFilter();
  refresh();
}

function markFilter() {
  for (const chip of document.querySelectorAll("[data-ticket-filter]")) {
    chip.classList.toggle("chip--on", chip.dataset.ticketFilter === state.filter);
  }
}

export async function select(id) {
  if (id !== state.selected) {
    setError(byId("ticket-error"), "");
    show(byId("ticket-transfer"), false);
    show(byId("ticket-close"), false);
  }
  state.selected = id;
  state.unread.delete(id);
  for (const row of byId("ticket-list").children) {
    const on = row.dataset.id === String(id);
    row.classList.toggle("row--selected", on);
    if (on) row.classList.remove("row--unread");
    row.setAttribute("aria-selected", on ? "true" : "false");
    if (on) row.scrollIntoView({ block: "nearest" });
  }
  await loadDetail(id, true);
}

async function loadDetail(id, opened = false) {
  const ticket = ++state.detailLoading;
  let t;
  try {
    t = await api(`/api/v1/agent/tickets/${encodeURIComponent(id)}`);
  } catch (err) {
    if (err.status === 404 && id === state.selected) {  // transferred out of this member's windows
      state.selected = null;
      state.detail = null;
      show(byId("ticket-detail"), false);
      show(byId("ticket-empty"), true);
    }
    ctx.flash(err.message, true);
    return;
  }
  if (ticket !== state.detailLoading || id !== state.selected) return;
  state.detail = t;
  renderDetail(t, opened);
  if (t.status !== "closed") loadCanned(t.window);
}

function renderDetail(t, opened) {
  show(byId("ticket-empty"), false);
  show(byId("ticket-detail"), true);
  byId("ticket-title").textContent = `${ticketName(t)} · ${t.window}`;
  byId("ticket-status").textContent = label("ticketStatus", t.status) + (t.staff ? ` · ${t.staff}` : "");
  byId("ticket-status").className = `pill pill--${t.status}`;
  const meta = [`渠道：${label("channel", t.channel)}`, `发起：${when(t.created_at)}`];
  if (t.reason) meta.push(`原因：${label("ticketReason", t.reason)}`);
  if (t.context && t.context.item) meta.push(`事项：${t.context.item}`);
  const flows = [...new Set((t.context && t.context.flows) || [])].map((f) => label("flow", f));
  if (flows.length) meta.push(`咨询过：${flows.join("、")}`);
  if (t.claimed_at) meta.push(`接单：${when(t.claimed_at)}`);
  if (t.closed_at) meta.push(`结束：${when(t.closed_at)}`);
  if (t.status === "waiting" && t.position) meta.push(`排第 ${t.position} 位`);
  byId("ticket-meta").textContent = meta.join("　");
  const mine = t.status === "serving" && t.staff === ctx.staff().username;
  show(byId("ticket-claim"), t.status === "waiting");
  show(byId("ticket-transfer-open"), t.status !== "closed" && (mine || t.status === "waiting"));
  show(byId("ticket-release"), mine);
  show(byId("ticket-close-open"), mine);
  if (!mine) show(byId("ticket-close"), false);
  if (t.status === "closed") show(byId("ticket-transfer"), false);
  const reply = byId("reply-text");
  reply.disabled = !mine;
  byId("reply-send").disabled = !mine;
  byId("note-send").disabled = t.status === "closed";
  reply.placeholder = mine ? "输入回复（r 聚焦，Ctrl+Enter 发送）"
    : t.status === "waiting" ? "接单后才能回复群众；可先写内部备注" : t.status === "closed" ? "服务已结束" : `由 ${t.staff} 服务中`;
  show(byId("canned"), mine);
  renderMessages(t.messages || [], opened);
}

function renderMessages(messages, opened) {
  const log = byId("ticket-messages");
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 60;
  clear(log);
  for (const m of messages) {
    const who = m.sender === "staff" ? `工作人员 ${m.staff || ""}`
      : m.sender === "note" ? `内部备注 · ${m.staff || ""}` : label("sender", m.sender);
    log.appendChild(el("li", { class: `msg msg--${m.sender}`, dataset: { id: String(m.id) } },
      el("span", { class: "msg__from" }, `${who} · ${when(m.created_at)}`),
      el("div", { class: "msg__text" }, m.text)));
  }
  if (opened || atBottom) log.scrollTop = log.scrollHeight;
}

async function loadCanned(window) {
  if (!state.canned.has(window)) {
    try {
      state.canned.set(window, (await api(`/api/v1/agent/canned${query({ window })}`)).replies);
    } catch {
      state.canned.set(window, []);
    }
  }
  if (!state.detail || state.detail.window !== window) return;
  const box = clear(byId("canned"));
  for (const r of state.canned.get(window)) {
    box.appendChild(el("button", { type: "button", class: "chip chip--canned", title: r.text, onclick: () => {
      const reply = byId("reply-text");
      if (reply.disabled) return;
      reply.setRangeText(r.text, reply.selectionStart, reply.selectionEnd, "end");
      reply.focus();
    } }, r.title));
  }
}

function toggleForm(id) {
  const form = byId(id);
  const opening = form.hidden;
  show(byId("ticket-transfer"), false);
  show(byId("ticket-close"), false);
  if (!opening) return;
  if (id === "ticket-transfer" && state.detail) ctx.fillWindows(input(form, "window"), "", state.detail.window);
  show(form, true);
  const first = form.querySelector("select, input");
  if (first) first.focus();
}

async function claim(id) {
  setError(byId("ticket-error"), "");
  try {
    await api(`/api/v1/agent/tickets/${encodeURIComponent(id)}/claim`, { method: "POST", body: {} });
  } catch (err) {
    if (id === state.selected) setError(byId("ticket-error"), err.message);
    else ctx.flash(err.message, true);
    await refresh();
    return;
  }
  ctx.flash("已接单，请及时回复群众");
  state.filter = "mine";
  markFilter();
  state.selected = id;
  await refresh();
  await select(id);
  byId("reply-text").focus();
}

// a: claim the open ticket, or the first waiting one in the list.
export function claimSelected() {
  if (state.detail && state.detail.status === "waiting") return claim(state.detail.id);
  const first = visibleTickets().find((t) => t.status === "waiting");
  if (first) return claim(first.id);
  return null;
}

async function act(action, body, done) {
  const id = state.selected;
  if (!id) return false;
  setError(byId("ticket-error"), "");
  try {
    await api(`/api/v1/agent/tickets/${encodeURIComponent(id)}/${action}`, { method: "POST", body });
  } catch (err) {
    setError(byId("ticket-error"), err.message);
    return false;
  }
  show(byId("ticket-transfer"), false);
  show(byId("ticket-close"), false);
  ctx.flash(done);
  await refresh();
  return true;
}

export async function sendReply() {
  await post("reply", byId("reply-text"));
}

async function sendNote() {
  await post("note", byId("reply-text"), true);
}

async function post(action, box, note = false) {
  const id = state.selected;
  const text = box.value.trim();
  if (!id || !text) return;
  if (!note && box.disabled) return;
  const buttons = [byId("reply-send"), byId("note-send")];
  for (const b of buttons) b.disabled = true;
  setError(byId("ticket-error"), "");
  try {
    await api(`/api/v1/agent/tickets/${encodeURIComponent(id)}/${action}`, { method: "POST", body: { text } });
    // Emptied only if it still holds what was sent: what was typed meanwhile is the next message.
    if (box.value.trim() === text) box.value = "";
  } catch (err) {
    setError(byId("ticket-error"), err.message);
  } finally {
    await loadDetail(id);  // also restores which buttons are enabled
    if (!box.disabled) box.focus();
  }
}

// j / k: move the selection and open the ticket.
export function move(delta) {
  const rows = visibleTickets();
  if (!rows.length) return;
  const at = rows.findIndex((t) => t.id === state.selected);
  const next = at < 0 ? (delta > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, at + delta));
  select(rows[next].id);
}

// r: the reply box of the open ticket.
export function focusReply() {
  const reply = byId("reply-text");
  if (state.detail && !reply.disabled) reply.focus();
}

let pendingList = null;
let pendingDetail = null;

// A ticket changed (SSE): redraw queues and list; a new message in the open ticket shows at once.
export function onEvent(event) {
  if (state.available === false) return;
  if (event.kind === "message" && event.sender !== "staff" && event.id !== state.selected) {
    state.unread.add(event.id);
    const row = document.querySelector(`#ticket-list [data-id="${CSS.escape(String(event.id))}"]`);
    if (row) row.classList.add("row--unread");
  }
  if (event.kind === "opened") ctx.flash(`新的转人工请求：${event.window}窗口`);
  if (event.id === state.selected) {
    clearTimeout(pendingDetail);
    pendingDetail = setTimeout(() => state.selected === event.id && loadDetail(event.id), 50);
  }
  if (event.kind !== "message" && event.kind !== "note") {
    clearTimeout(pendingList);
    pendingList = setTimeout(() => refresh(), 150);
  }
}
