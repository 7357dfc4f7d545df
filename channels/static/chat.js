// 一窗 web chat: talks to /api/v1 (sessions, messages, events). No build step, no dependencies.
"use strict";
(() => {
  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("text");
  const sendButton = document.getElementById("send");
  const TOKEN_KEY = "yichuang.token";
  const CURSOR_KEY = "yichuang.cursor";
  let events = null;

  // A message the service wrote for the citizen (Chinese, from the JSON error body). Anything else that goes
  // wrong (no network, a proxy's HTML error page) is shown as a plain Chinese sentence, never the browser's
  // own English text.
  class ServiceError extends Error {}

  async function serviceError(res, fallback) {
    const body = await res.json().catch(() => ({}));
    return new ServiceError(body.error && body.error.message ? body.error.message : fallback);
  }

  function errorText(err, fallback) {
    return err instanceof ServiceError ? err.message : fallback;
  }

  function add(kind, text, buttons, from) {
    const item = document.createElement("li");
    item.className = `msg msg--${kind}`;
    if (from) {
      const label = document.createElement("span");
      label.className = "msg__from";
      label.textContent = from;
      item.appendChild(label);
    }
    item.appendChild(document.createTextNode(text));
    if (buttons && buttons.length) {
      const row = document.createElement("div");
      row.className = "buttons";
      for (const b of buttons) {
        const el = document.createElement("button");
        el.type = "button";
        el.textContent = b.title;
        el.addEventListener("click", () => send(b.payload, b.title));
        row.appendChild(el);
      }
      item.appendChild(row);
    }
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }

  async function newToken() {
    const res = await fetch("/api/v1/sessions", { method: "POST" });
    if (!res.ok) throw await serviceError(res, "无法连接服务，请稍后刷新重试。");
    const body = await res.json();
    localStorage.setItem(TOKEN_KEY, body.token);
    localStorage.setItem(CURSOR_KEY, "0");
    return body.token;
  }

  async function token() {
    return localStorage.getItem(TOKEN_KEY) || newToken();
  }

  async function post(text, retried) {
    const msgId = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now() + Math.random())).replace(/[^A-Za-z0-9-]/g, "");
    const res = await fetch("/api/v1/messages", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${await token()}` },
      body: JSON.stringify({ text, msg_id: msgId }),
    });
    if (res.status === 401 && !retried) {  // expired or unknown token: start a new visitor session
      await newToken();
      listen();
      return post(text, true);
    }
    if (!res.ok) throw await serviceError(res, "发送失败，请稍后再试。");
    return res.json();
  }

  // `shown` is what the user sees as their own bubble; null sends silently (the greeting on load).
  async function send(text, shown) {
    text = text.trim();
    if (!text) return;
    if (shown !== null) add("user", shown || text);
    sendButton.disabled = true;
    try {
      const body = await post(text, false);
      for (const r of body.replies) add("bot", r.text, r.buttons);
    } catch (err) {
      add("error", errorText(err, "网络异常，请稍后再试。"));
    } finally {
      sendButton.disabled = false;
      input.focus();
    }
  }

  async function listen() {
    if (events) events.close();
    const after = localStorage.getItem(CURSOR_KEY) || "0";
    events = new EventSource(`/api/v1/events?token=${encodeURIComponent(await token())}&after=${after}`);
    events.onmessage = (e) => {
      const m = JSON.parse(e.data);
      localStorage.setItem(CURSOR_KEY, String(m.id));
      add(m.source === "staff" ? "staff" : "bot", m.text, m.buttons, m.source === "staff" ? "工作人员" : null);
    };
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = input.value;
    input.value = "";
    send(text);
  });
  document.getElementById("restart").addEventListener("click", () => send("重新开始"));

  listen().then(() => send("你好", null)).catch((err) => add("error", errorText(err, "无法连接服务，请稍后刷新重试。")));
})();
