// 案件: the list of 办不成事 cases (黄灯/红灯), one case with its trail, and the lifecycle actions.
import { api, query } from "./api.js";
import { actorName, byId, clear, el, input, label, setError, show, when } from "./dom.js";

const DONE = { classify: "已保存分类", pause: "已暂停计时", resume: "已恢复计时", transfer: "已转办", resolve: "已办结",
  note: "已添加备注" };

let ctx = null;
const state = { rows: [], selected: null, detail: null, q: "", loading: 0, detailLoading: 0 };

export function bind(context) {
  ctx = context;
  byId("case-filters").addEventListener("change", () => refresh());
  byId("case-filters").addEventListener("submit", (e) => e.preventDefault());
  for (const chip of document.querySelectorAll("#case-detail .actions__tabs .chip")) {
    chip.addEventListener("click", () => openForm(chip.dataset.action));
  }
  for (const form of document.querySelectorAll("#case-detail .action-form")) {
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      submit(form);
    });
  }
}

// Called after each login: which windows this member may filter by.
export function start() {
  const select = byId("filter-window");
  const chosen = select.value;
  clear(select).appendChild(el("option", { value: "" }, "全部窗口"));
  for (const w of ctx.visibleWindows()) select.appendChild(el("option", { value: w }, w));
  select.value = ctx.visibleWindows().includes(chosen) ? chosen : "";
}

export function reset() {
  state.rows = [];
  state.selected = null;
  state.detail = null;
  clear(byId("case-list"));
  show(byId("case-detail"), false);
  show(byId("case-empty"), true);
}

export function setQuery(q) {
  state.q = q;
}

export async function refresh() {
  const form = byId("case-filters");
  const params = { status: input(form, "status").value, light: input(form, "light").value,
    window: input(form, "window").value, q: state.q };
  const ticket = ++state.loading;  // only the newest answer is drawn
  try {
    const body = await api(`/api/v1/agent/cases${query(params)}`);
    if (ticket !== state.loading) return;
    state.rows = body.cases;
    renderList();
  } catch (err) {
    ctx.flash(err.message, true);
  }
  if (state.selected) await loadDetail(state.selected);
}

function renderList() {
  const list = clear(byId("case-list"));
  let red = 0;
  let yellow = 0;
  for (const c of state.rows) {
    if (c.light === "red") red += 1;
    if (c.light === "yellow") yellow += 1;
    const row = el("li", {
      class: `row case-row case-row--${c.light}${c.case_no === state.selected ? " row--selected" : ""}`,
      role: "option", "aria-selected": c.case_no === state.selected ? "true" : "false", tabindex: "-1",
      dataset: { no: c.case_no }, onclick: () => select(c.case_no),
    },
    el("div", { class: "row__top" },
      el("strong", { class: "row__id" }, c.case_no),
      el("span", { class: `light light--${c.light}` }, label("light", c.light)),
      el("span", { class: "pill" }, label("caseStatus", c.status))),
    el("div", { class: "row__main" }, c.item_name),
    el("div", { class: "row__sub" },
      el("span", {}, c.category), " · ", el("span", {}, c.window), " · ",
      el("span", { class: "due" }, `截止 ${c.due_in_words}`),
      c.paused ? el("span", { class: "tag" }, "暂停中") : null,
      c.escalated ? el("span", { class: "tag tag--red" }, "督办") : null));
    list.appendChild(row);
  }
  const words = [`共 ${state.rows.length} 件`];
  if (red) words.push(`红灯 ${red}`);
  if (yellow) words.push(`黄灯 ${yellow}`);
  byId("case-count").textContent = state.rows.length ? words.join("，") : "没有符合条件的案件。";
}

export async function select(caseNo) {
  if (caseNo !== state.selected) {
    for (const form of document.querySelectorAll("#case-detail .action-form")) {
      form.reset();
      show(form, false);
      setError(form.querySelector(".form-error"), "");
    }
  }
  state.selected = caseNo;
  for (const row of byId("case-list").children) {
    const on = row.dataset.no === caseNo;
    row.classList.toggle("row--selected", on);
    row.setAttribute("aria-selected", on ? "true" : "false");
    if (on) row.scrollIntoView({ block: "nearest" });
  }
  await loadDetail(caseNo);
}

async function loadDetail(caseNo) {
  // Loads overlap (an action's own reload, the live stream's): only the last one started may render, or an
  // older answer arriving late shows a case as it was before the action.
  const loading = ++state.detailLoading;
  try {
    const detail = await api(`/api/v1/agent/cases/${encodeURIComponent(caseNo)}`);
    if (loading !== state.detailLoading || caseNo !== state.selected) return;
    state.detail = detail;
    renderDetail(detail);
  } catch (err) {
    if (loading !== state.detailLoading) return;
    if (err.status === 404) {
      state.selected = null;
      show(byId("case-detail"), false);
      show(byId("case-empty"), true);
    }
    ctx.flash(err.message, true);
  }
}

function field(list, name, value) {
  if (value === null || value === undefined || value === "") return;
  list.appendChild(el("dt", {}, name));
  list.appendChild(el("dd", {}, value));
}

function renderDetail(c) {
  show(byId("case-empty"), false);
  show(byId("case-detail"), true);
  byId("case-title").textContent = `${c.case_no} · ${c.item_name}`;
  const light = byId("case-light");
  light.className = `light light--${c.light}`;
  light.textContent = label("light", c.light);
  byId("case-status").textContent = label("caseStatus", c.status) + (c.paused ? "（暂停计时）" : "");
  const fields = clear(byId("case-fields"));
  field(fields, "类别", c.category);
  field(fields, "复杂程度", `${label("complexity", c.complexity)}（${c.days} 个工作日）`);
  field(fields, "窗口", c.window);
  field(fields, "承办部门", c.department);
  field(fields, "受理时间", when(c.accepted_at));
  field(fields, "办理截止", `${c.due_in_words}${c.provisional ? "（节假日安排未公布，暂定）" : ""}`);
  field(fields, "反映人", c.name);
  field(fields, "联系电话", c.phone);
  field(fields, "渠道", label("channel", c.channel));
  field(fields, "时间地点", c.where_when);
  field(fields, "遇到的情况", c.happened);
  field(fields, "诉求", c.wants);
  field(fields, "办理结果", c.result);
  field(fields, "办结时间", when(c.resolved_at));
  field(fields, "评价", c.rating ? label("rating", c.rating) : null);
  const open = ["accepted", "classified", "transferred"].includes(c.status);
  const allowed = { classify: open, pause: open && !c.paused, resume: c.paused, transfer: open, resolve: open,
    note: true };
  for (const chip of document.querySelectorAll("#case-detail .actions__tabs .chip")) {
    chip.disabled = !allowed[chip.dataset.action];
    if (chip.disabled) show(formOf(chip.dataset.action), false);
  }
  renderTimeline(c.events);
}

function eventDetail(e) {
  const d = e.data || {};
  if (e.kind === "transferred" && d.to) return `转至 ${d.to.window} · ${d.to.department}`;
  if (e.kind === "reclassified" && d.to) {
    return `${d.to.category}，${label("complexity", d.to.complexity)}，${d.to.days} 个工作日`;
  }
  if (e.kind === "resumed" && d.paused_days) return `办理时限顺延 ${d.paused_days} 个工作日`;
  if (e.kind === "feedback" && d.rating) return label("rating", d.rating);
  if (e.kind === "resolved" && d.on_time !== undefined) return d.on_time ? "按时办结" : "超期办结";
  return "";
}

function renderTimeline(events) {
  const list = clear(byId("case-timeline"));
  for (const e of events) {
    const extra = eventDetail(e);
    list.appendChild(el("li", { class: `timeline__item timeline__item--${e.kind}`, dataset: { kind: e.kind } },
      el("div", { class: "timeline__head" },
        el("strong", { class: "timeline__kind" }, label("eventKind", e.kind)),
        el("span", { class: "muted" }, `${when(e.created_at)} · ${actorName(e.actor)}`)),
      extra ? el("div", { class: "timeline__data" }, extra) : null,
      e.note ? el("div", { class: "timeline__note" }, e.note) : null));
  }
}

function formOf(action) {
  return document.querySelector(`#case-detail .action-form[data-action="${action}"]`);
}

export function openForm(action) {
  const form = formOf(action);
  const chip = document.querySelector(`#case-detail .chip[data-action="${action}"]`);
  if (!form || !chip || chip.disabled) return;
  const opening = form.hidden;
  for (const other of document.querySelectorAll("#case-detail .action-form")) show(other, false);
  for (const other of document.querySelectorAll("#case-detail .actions__tabs .chip")) {
    other.classList.toggle("chip--on", opening && other === chip);
  }
  if (!opening) return;
  const c = state.detail;
  if (action === "classify" && c) {
    input(form, "category").value = c.category;
    input(form, "complexity").value = c.complexity;
  }
  if (action === "transfer" && c) {
    ctx.fillWindows(input(form, "window"), c.window);
    const department = input(form, "department");
    if (!department.value) department.value = c.department;
  }
  setError(form.querySelector(".form-error"), "");
  show(form, true);
  const first = form.querySelector("textarea, input, select");
  if (first) first.focus();
}

async function submit(form) {
  const action = form.dataset.action;
  const caseNo = state.selected;
  if (!caseNo) return;
  const body = Object.fromEntries(new FormData(form).entries());
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await api(`/api/v1/agent/cases/${encodeURIComponent(caseNo)}/${action}`, { method: "POST", body });
    form.reset();
    show(form, false);
    for (const chip of document.querySelectorAll("#case-detail .actions__tabs .chip")) chip.classList.remove("chip--on");
    ctx.flash(`${caseNo}：${DONE[action]}`);
    await refresh();
  } catch (err) {
    setError(form.querySelector(".form-error"), err.message);
  } finally {
    button.disabled = false;
  }
}

// j / k: move the selection and open the case.
export function move(delta) {
  const rows = state.rows;
  if (!rows.length) return;
  const at = rows.findIndex((c) => c.case_no === state.selected);
  const next = at < 0 ? (delta > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, at + delta));
  select(rows[next].case_no);
}

// r: the internal note of the open case.
export function focusReply() {
  if (!state.detail) return;
  if (formOf("note").hidden) openForm("note");
  else input(formOf("note"), "note").focus();
}

let pending = null;

// A case changed somewhere (SSE): redraw the list, and the open case if it is the one.
export function onEvent() {
  clearTimeout(pending);
  pending = setTimeout(() => refresh(), 150);
}
