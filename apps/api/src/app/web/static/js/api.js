// Calls to the API on the session cookie. Every change carries the CSRF token; every error
// becomes an ApiError carrying the API's `detail` text, so the page can show it where it happened.

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }
}

const listeners = new Set();
/** Called with no argument when the session is gone (401), so the app can show the sign-in form. */
export function onSignedOut(fn) { listeners.add(fn); }

export function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)sc_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

function detailText(body, status) {
  if (body && typeof body.detail === "string") return body.detail;
  if (body && Array.isArray(body.detail)) {
    return body.detail.map((d) => [(d.loc || []).filter((p) => p !== "body").join("."), d.msg].filter(Boolean).join(": ")).join("; ");
  }
  return `Request failed (HTTP ${status})`;
}

export async function api(path, { method = "GET", body, headers = {}, signal } = {}) {
  const h = { Accept: "application/json", ...headers };
  if (method !== "GET" && method !== "HEAD") h["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) h["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin", signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "The server cannot be reached. Check that it is running, then try again.");
  }
  if (res.status === 204) return null;
  let data = null;
  const type = res.headers.get("content-type") || "";
  if (type.includes("json")) data = await res.json().catch(() => null);
  if (!res.ok) {
    if (res.status === 401 && !headers.Authorization) listeners.forEach((fn) => fn());
    throw new ApiError(res.status, detailText(data, res.status));
  }
  return data;
}

export async function signIn(token) {
  return api("/auth/session", { method: "POST", headers: { Authorization: `Bearer ${token}` } });
}

export async function signOut() {
  // A token that an older /docs kept (Swagger UI's persistAuthorization) goes too; /docs keeps none now.
  try { localStorage.removeItem("authorized"); } catch (e) { /* no storage: nothing kept */ }
  try { await api("/auth/session", { method: "DELETE" }); } catch (err) { if (err.status !== 401) throw err; }
}
