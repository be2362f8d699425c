// Numbers, durations, times and small DOM helpers shared by every page.

const nf = new Intl.NumberFormat("en-US");
export const num = (n) => (n === null || n === undefined ? "–" : nf.format(n));

export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export const money = (cents) => (cents === null || cents === undefined ? "" : `$${(cents / 100).toFixed(2)}`);

// One formatter for every card: toLocaleTimeString builds a new one per call, which costs more
// than the whole rest of a card at a few hundred events per second.
const timeFormat = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
export function clock(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? "" : timeFormat.format(t);
}

export function dateTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return d.toLocaleString("en-GB", { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export function ago(iso, now = Date.now()) {
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

/** Element builder: text always goes in as textContent, never as HTML. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG = "http://www.w3.org/2000/svg";
export function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  const use = document.createElementNS(SVG, "use");
  use.setAttribute("href", `#i-${name}`);
  svg.append(use);
  return svg;
}

export const STATUS_ICON = { pending: "paused", running: "fetching", paused: "paused", completed: "complete", failed: "error", cancelled: "cancelled" };
export const OPEN_STATUSES = new Set(["pending", "running", "paused"]);

export function statusBadge(status) {
  return h("span", { class: `status status-${status}`, dataset: { status } }, icon(STATUS_ICON[status] || "gap"), status);
}

/** A message box showing an API error's detail next to the control that caused it. */
export function errorBox() {
  const el = h("p", { class: "error-text", role: "alert", hidden: true });
  return {
    el,
    show(err) { el.textContent = err && err.detail ? err.detail : String(err && err.message ? err.message : err); el.hidden = false; },
    clear() { el.textContent = ""; el.hidden = true; },
  };
}

export function runDurationMs(run) {
  const start = run.started_at ? new Date(run.started_at).getTime() : null;
  if (start === null) return null;
  const stoppedAt = run.completed_at || (run.status === "paused" ? run.paused_at : null);
  const end = stoppedAt ? new Date(stoppedAt).getTime() : Date.now();
  return end - start;
}
