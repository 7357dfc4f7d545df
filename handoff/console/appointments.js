// 预约: the bookings of the member's windows (supervisors: all) for a date range, soonest first. 帮办代办 rows
// carry the phone to ring before the appointment and the address to visit, if the citizen gave one.
import { api, query } from "./api.js";
import { byId, clear, el, input, label, localToday, setError, show } from "./dom.js";

let loading = 0;

export function bind() {
  byId("appointments-range").addEventListener("submit", (e) => {
    e.preventDefault();
    refresh();
  });
}

export function start() {
  const form = byId("appointments-range");
  if (!input(form, "from").value) input(form, "from").value = localToday();
}

export function reset() {
  clear(byId("appointments-rows"));
}

export async function refresh() {
  const form = byId("appointments-range");
  const params = { from: input(form, "from").value, to: input(form, "to").value, kind: input(form, "kind").value };
  const ticket = ++loading;
  const error = byId("appointments-error");
  try {
    const body = await api(`/api/v1/agent/appointments${query(params)}`);
    if (ticket !== loading) return;
    setError(error, "");
    render(body.appointments);
  } catch (err) {
    if (ticket === loading) setError(error, err.message);
  }
}

function render(rows) {
  const tbody = clear(byId("appointments-rows"));
  for (const a of rows) {
    tbody.appendChild(el("tr", { dataset: { number: a.number } },
      el("td", null, a.day), el("td", null, label("half", a.half)), el("td", null, label("appointmentKind", a.kind)),
      el("td", null, a.item_name), el("td", null, a.window), el("td", null, a.number),
      el("td", null, a.phone ? el("a", { href: `tel:${a.phone}` }, a.phone) : ""),
      el("td", null, a.address || (a.kind === "assisted" ? "到窗口" : ""))));
  }
  show(byId("appointments-empty"), rows.length === 0);
}
