// The agent API (/api/v1/agent/...): JSON in and out, the session cookie, and the CSRF token on every write.

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

let csrf = "";
let loggedOut = () => {};

export function setCsrf(token) {
  csrf = token || "";
}

// Called once when any request finds the session gone (expired, logged out elsewhere, account disabled).
export function onLoggedOut(handler) {
  loggedOut = handler;
}

async function send(path, method, body) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (method !== "GET") {
    headers["X-CSRF-Token"] = csrf;
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body || {});
  }
  try {
    return await fetch(path, init);
  } catch {
    throw new ApiError(0, "network", "网络异常，请检查连接后重试。");
  }
}

async function errorOf(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  const err = body && body.error ? body.error : { code: `http_${res.status}`, message: `请求失败（${res.status}）` };
  return new ApiError(res.status, err.code, err.message, res.headers.get("Retry-After"));
}

// api("/api/v1/agent/cases") → JSON; api(path, { method: "POST", body }) for writes. Throws ApiError.
// `login: true` for the login call itself (a 401 there is a wrong password, not an expired session).
export async function api(path, { method = "GET", body, login = false } = {}) {
  let res = await send(path, method, body);
  if (res.status === 403 && method !== "GET") {
    const err = await errorOf(res);
    if (err.code !== "csrf_failed") throw err;
    // The session changed under us (a new login in another tab): fetch its token once and retry.
    const me = await send("/api/v1/agent/me", "GET");
    if (!me.ok) throw err;
    setCsrf((await me.json()).csrf_token);
    res = await send(path, method, body);
  }
  if (res.status === 204) return null;
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401 && !login) loggedOut(err);
    throw err;
  }
  return res.json();
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== "" && value !== null && value !== undefined) q.set(name, value);
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}
