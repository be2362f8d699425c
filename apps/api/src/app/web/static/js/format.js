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

// Run costs are fractions of a cent per request: up to four decimals below $100, cents above.
const usdSmall = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 4 });
const usdLarge = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
/** A cost in US dollars (a number, as the API sends it). */
export function usd(dollars) {
  if (dollars === null || dollars === undefined) return "–";
  return (Math.abs(dollars) >= 100 ? usdLarge : usdSmall).format(dollars);
}

/** An estimate in dollars, to the cent: "$1.35". */
/** A run's seller-line coverage, "98.3%" ("–" before it read a result page). */
export const coverage = (run) => (run.seller_coverage === null || run.seller_coverage === undefined ? "–" : `${(100 * run.seller_coverage).toFixed(1)}%`);
/** "1,180 of 1,200 listings with a readable seller line". */
export const coverageDetail = (run) => (run.listings_read ? `${nf.format(run.listings_with_seller)} of ${nf.format(run.listings_read)} listings with a readable seller line` : "No result page read yet");
export const usdRounded = (dollars) => (dollars === null || dollars === undefined ? "–" : usdLarge.format(dollars));

/** A running time in whole seconds: "9 s", "3 min 20 s", "1 h 5 min". */
export function clockTime(ms) {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** "about 4 min left" for a number of seconds still to go. */
export function timeLeft(seconds) {
  if (seconds <= 0) return "finishing";
  if (seconds < 60) return "under a minute left";
  const minutes = Math.round(seconds / 60);
  return minutes < 90 ? `about ${minutes} min left` : `about ${Math.floor(minutes / 60)} h ${minutes % 60} min left`;
}

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

/** How long the run has been going, pauses left out (the API's `active_seconds`), in ms. */
export function activeMs(run) {
  return run.active_seconds === null || run.active_seconds === undefined ? null : run.active_seconds * 1000;
}

// --- seller figures ---------------------------------------------------------------------------

/** A markup (eBay price / Amazon price): "2.05×". */
export const markup = (m) => (m === null || m === undefined ? "–" : `${Number(m).toFixed(2)}×`);
/** A share 0-1 as a whole percentage: "87%". */
export const percent = (s) => (s === null || s === undefined ? "–" : `${Math.round(Number(s) * 100)}%`);
/** A price with its currency: "$18.00", "EUR 18.00". */
export function price(amount, currency) {
  if (amount === null || amount === undefined) return "–";
  const n = Number(amount).toFixed(2);
  return !currency || currency === "USD" ? `$${n}` : `${currency} ${n}`;
}
/** eBay feedback: "1,234 · 99.1%". */
export function feedback(count, pct) {
  if (count === null || count === undefined) return "–";
  return pct === null || pct === undefined ? num(count) : `${num(count)} · ${Number(pct).toFixed(1)}%`;
}

/**
 * The dropshipper score as a number beside a small bar (0-100). The bar's width is set through
 * the CSSOM, which the page's Content-Security-Policy allows (a style attribute it would not).
 */
export function scoreBar(score) {
  const wrap = h("span", { class: "score", dataset: { score: score ?? "" } });
  if (score === null || score === undefined) {
    wrap.append(h("span", { class: "score-num muted", text: "–", title: "No score: no evidence (added by hand)" }));
    return wrap;
  }
  const fill = h("span", { class: "score-fill" });
  fill.style.width = `${Math.max(0, Math.min(100, score))}%`;
  wrap.append(h("span", { class: "score-num num", text: String(score) }), h("span", { class: "score-bar", "aria-hidden": "true" }, fill));
  return wrap;
}
