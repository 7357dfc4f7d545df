// 统计 (supervisors and admins): case statistics as inline SVG (no chart library), the Excel export, and
// the bad reviews waiting for a follow-up.
import { api, query } from "./api.js";
import { byId, clear, el, input, label, localToday, setError, svg, when } from "./dom.js";

let ctx = null;
let loading = 0;

export function bind(context) {
  ctx = context;
  const form = byId("stats-range");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    refresh();
  });
  form.addEventListener("change", () => updateExport());
}

export function start() {
  const form = byId("stats-range");
  if (!input(form, "to").value) {
    const today = localToday();
    input(form, "from").value = `${today.slice(0, 8)}01`;  // this month so far
    input(form, "to").value = today;
  }
  updateExport();
}

function range() {
  const form = byId("stats-range");
  return { from: input(form, "from").value, to: input(form, "to").value };
}

function updateExport() {
  byId("stats-export").setAttribute("href", `/api/v1/agent/reports/cases.xlsx${query(range())}`);
}

export async function refresh() {
  if (!ctx.isSupervisor()) return;
  updateExport();
  const ticket = ++loading;
  const error = byId("stats-error");
  try {
    const [report, followUps] = await Promise.all([
      api(`/api/v1/agent/reports/cases${query(range())}`),
      api("/api/v1/agent/evaluations"),
    ]);
    if (ticket !== loading) return;
    setError(error, "");
    renderKpis(report);
    byId("chart-category").replaceChildren(bars(report.by_category, "按类别"));
    byId("chart-window").replaceChildren(bars(report.by_window, "按窗口"));
    byId("chart-status").replaceChildren(bars(report.by_status, "按状态"));
    renderFollowUps(followUps.evaluations);
  } catch (err) {
    setError(error, err.message);
  }
}

function percent(rate) {
  return rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)}%`;
}

function kpi(name, value, note, extra, alert = false) {
  return el("div", { class: alert ? "kpi kpi--alert" : "kpi" }, extra || null, el("div", { class: "kpi__value" }, value),
    el("div", { class: "kpi__name" }, name), note ? el("div", { class: "kpi__note muted" }, note) : null);
}

// A half-circle gauge; `rate` 0–1 or null (nothing to measure yet).
function gauge(rate, name) {
  const value = rate === null || rate === undefined ? 0 : Math.max(0, Math.min(1, rate)) * 100;
  const arc = "M 10 60 A 50 50 0 0 1 110 60";
  const tone = rate === null || rate === undefined ? "none" : value >= 90 ? "good" : value >= 70 ? "fair" : "poor";
  return svg("svg", { class: `gauge gauge--${tone}`, viewBox: "0 0 120 66", role: "img",
    "aria-label": `${name} ${percent(rate)}` },
  svg("title", {}, `${name} ${percent(rate)}`),
  svg("path", { d: arc, class: "gauge__track", pathLength: "100" }),
  value > 0 ? svg("path", { d: arc, class: "gauge__value", pathLength: "100", "stroke-dasharray": `${value} 100` })
    : null);
}

function renderKpis(r) {
  const box = byId("stats-kpis");
  box.replaceChildren(
    kpi("案件总数", String(r.total), `办结 ${r.resolved} 件`),
    kpi("按时办结率", percent(r.on_time_rate), `按时 ${r.on_time} / 办结 ${r.resolved}`, gauge(r.on_time_rate, "按时办结率")),
    kpi("满意率", percent(r.satisfied_rate), `评价 ${r.ratings} 条`, gauge(r.satisfied_rate, "满意率")),
    kpi("平均办结用时", r.average_working_days === null ? "—" : `${r.average_working_days} 个工作日`),
    kpi("超期未办结", String(r.overdue_open), r.overdue_open ? "请及时督办" : "", null, r.overdue_open > 0),
    kpi("平均评分", r.average_rating === null ? "—" : `${r.average_rating} / 5`),
  );
}

// Horizontal bars, largest first, drawn with SVG elements (labels as text nodes).
function bars(counts, name) {
  const entries = Object.entries(counts || {}).sort((a, b) => b[1] - a[1]);
  if (!entries.length) return el("p", { class: "muted" }, "暂无数据");
  const rowHeight = 28;
  const labelWidth = 110;
  const barSpace = 240;
  const max = Math.max(...entries.map(([, n]) => n));
  const height = entries.length * rowHeight + 4;
  const chart = svg("svg", { class: "bars", viewBox: `0 0 400 ${height}`, role: "img",
    "aria-label": `${name}：${entries.map(([k, n]) => `${k} ${n} 件`).join("，")}` },
  svg("title", {}, name));
  entries.forEach(([key, n], i) => {
    const y = i * rowHeight + 4;
    const width = Math.max(2, (n / max) * barSpace);
    chart.appendChild(svg("g", { class: "bars__row" },
      svg("text", { x: labelWidth - 8, y: y + 15, "text-anchor": "end", class: "bars__label" }, key),
      svg("rect", { x: labelWidth, y, width, height: rowHeight - 8, rx: 3, class: "bars__bar" }),
      svg("text", { x: labelWidth + width + 6, y: y + 15, class: "bars__count" }, String(n))));
  });
  return chart;
}

function renderFollowUps(rows) {
  const list = clear(byId("followups"));
  if (!rows.length) {
    list.appendChild(el("li", { class: "empty" }, "没有待回访的差评。"));
    return;
  }
  for (const e of rows) {
    const error = el("p", { class: "form-error", role: "alert", hidden: true });
    const note = el("textarea", { name: "note", rows: "2", maxlength: "2000", required: true,
      placeholder: "回访情况：已联系群众、说明原因、整改措施……" });
    const form = el("form", { class: "followup__form" },
      el("label", { class: "visually-hidden" }, "回访记录"), note,
      el("button", { type: "submit", class: "btn btn--primary" }, "记录回访"), error);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await api(`/api/v1/agent/evaluations/${encodeURIComponent(e.id)}/follow-up`, { method: "POST",
          body: { note: note.value } });
        ctx.flash("已记录回访");
        await refresh();
      } catch (err) {
        setError(error, err.message);
      }
    });
    list.appendChild(el("li", { class: `followup followup--${e.rating}` },
      el("div", { class: "followup__head" },
        el("strong", {}, `${e.level || label("rating", e.rating)}`),
        el("span", {}, `${e.service === "case" ? "案件" : e.service === "ticket" ? "工单" : e.service} ${e.ref}`),
        e.window ? el("span", { class: "pill" }, e.window) : null,
        el("span", { class: "muted" }, when(e.created_at))),
      el("p", { class: "followup__comment" }, e.comment || "（未留言）"),
      form));
  }
}

let pending = null;

// A rating or a case change arrived: keep the open dashboard current.
export function onEvent() {
  if (!ctx.isSupervisor() || ctx.view() !== "stats") return;
  clearTimeout(pending);
  pending = setTimeout(() => refresh(), 500);
}
