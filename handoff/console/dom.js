// DOM helpers and Chinese labels for the staff console. Text from the server only ever goes in through
// textContent / createTextNode (el() below), never parsed as HTML.

const SVG_NS = "http://www.w3.org/2000/svg";

// el("li", { class: "row", dataset: { no: "1" }, onclick: fn }, "text", childNode, ...)
export function el(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

export function svg(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.setAttribute("class", value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

export function show(node, visible) {
  node.hidden = !visible;
}

export function byId(id) {
  return document.getElementById(id);
}

// Show an error message under a form (or hide it with an empty message).
export function setError(node, message) {
  node.textContent = message || "";
  node.hidden = !message;
}

// The service centre keeps Beijing time, whatever the browser's zone.
const TIME = new Intl.DateTimeFormat("zh-CN", {
  timeZone: "Asia/Shanghai", month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
});

export function when(iso) {
  if (!iso) return "";
  const parts = Object.fromEntries(TIME.formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  return `${parts.month}月${parts.day}日 ${parts.hour}:${parts.minute}`;
}

// Today as YYYY-MM-DD in Beijing time (the service centre's calendar).
export function localToday() {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit",
    day: "2-digit" }).formatToParts(new Date());
  const get = (type) => parts.find((p) => p.type === type).value;
  return `${get("year")}-${get("month")}-${get("day")}`;
}

export function waitWords(seconds) {
  const s = Math.max(0, Math.round(seconds || 0));
  if (s < 60) return `${s} 秒`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} 分 ${s % 60} 秒`;
  return `${Math.floor(m / 60)} 小时 ${m % 60} 分`;
}

export function actorName(actor) {
  if (!actor) return "";
  if (actor.startsWith("staff:")) return actor.slice(6);
  return { system: "系统", citizen: "群众" }[actor] || actor;
}

export const LABELS = {
  eventKind: {
    accepted: "受理", classified: "分类", reclassified: "重新分类", transferred: "转办", paused: "暂停计时",
    resumed: "恢复计时", note: "内部备注", resolved: "办结", feedback: "评价", closed: "结案",
    light_yellow: "黄灯", light_red: "红灯", light_green: "恢复正常", escalated: "督办", urged: "群众催办",
    supplemented: "群众补充说明", withdrawn: "群众撤回",
  },
  caseStatus: { accepted: "已受理", classified: "已分类", transferred: "已转办", resolved: "已办结", closed: "已反馈",
    withdrawn: "已撤回" },
  complexity: { simple: "一般", complex: "复杂", impossible: "不能办理" },
  light: { green: "正常", yellow: "黄灯", red: "红灯" },
  channel: { web: "网页", wechat: "微信公众号", mp: "小程序", shell: "终端", form: "网上表单" },
  ticketStatus: { waiting: "等待中", serving: "服务中", closed: "已结束" },
  sender: { citizen: "群众", staff: "工作人员", bot: "智能助手", note: "内部备注", system: "系统" },
  flow: { policy: "惠企政策", guide: "办事指南", complaint: "办不成事反映", handoff: "转人工", progress: "进度查询",
    feedback: "评价", smalltalk: "问候闲聊", fallback: "未能理解" },
  ticketReason: { request: "群众要求转人工", misses: "智能助手多次未能理解", message: "非工作时间留言" },
  rating: { 5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意" },
  role: { agent: "窗口人员", supervisor: "主管", admin: "管理员" },
  appointmentKind: { appointment: "预约办事", assisted: "帮办代办" },
  half: { am: "上午", pm: "下午" },
};

export function label(table, value) {
  return (LABELS[table] && LABELS[table][value]) || value || "";
}

// A named control of a form (form.elements, so a control called "window" or "status" is never shadowed).
export function input(form, name) {
  return form.elements.namedItem(name);
}
