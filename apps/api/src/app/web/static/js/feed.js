// The run's event store and the feed renderer.
//
// One stream, one store: every event passes `RunStore.apply` once (lanes, totals, throughput,
// problems), and the DOM is written at most once per animation frame from what changed. The feed
// keeps at most MAX_CARDS cards; a burst larger than that is trimmed to its newest before any
// node is built. Upstream text only ever goes in through textContent.

import { h, icon, clock, duration, money, num } from "./format.js";

export const MAX_CARDS = 100;
const MAX_PROBLEMS = 50;
const WORKER_ACTIONS = new Set(["fetching", "found", "error", "rate_limited", "complete"]);
const PIPELINE_ACTIONS = new Set(["uploading", "deduped", "inserted", "updated"]);
const LIFECYCLE_ACTIONS = new Set(["started", "paused", "resumed", "cancelled", "failed", "complete"]);
export const TERMINAL_ACTIONS = new Set(["complete", "failed", "cancelled"]);
const LANE_STATE = { fetching: "fetching", found: "found", error: "error", rate_limited: "rate-limited", complete: "idle" };
const ACTION_WORD = { rate_limited: "rate limited", complete: "complete" };

export function isTerminal(ev) { return ev.phase === "run" && TERMINAL_ACTIONS.has(ev.action); }
function isLifecycle(ev) { return ev.phase === "run" && LIFECYCLE_ACTIONS.has(ev.action); }

export function ebayLink(ev, params) {
  if (ev.url) return ev.url;
  const p = ev.api_params || params;
  if (!p || !p.query) return null;
  // Brand New, free shipping, US sellers, the price window: the search the worker made.
  let url = `https://www.ebay.com/sch/i.html?_nkw=${encodeURIComponent(p.query)}&LH_ItemCondition=1000&LH_FS=1&LH_PrefLoc=1`;
  if (p.price_min) url += `&_udlo=${(p.price_min / 100).toFixed(2)}`;
  if (p.price_max) url += `&_udhi=${(p.price_max / 100).toFixed(2)}`;
  if (p.page && p.page > 1) url += `&_pgn=${p.page}`;
  return url;
}

function newLane(id) {
  return { id, state: "idle", label: "", lastDuration: null, lastAt: null, requests: 0, successes: 0, retries: 0, errors: {}, durSum: 0, durN: 0, params: null, dirty: true };
}

/** The reducer: everything the page knows about the run's events. */
export class RunStore {
  constructor(workers = 5) {
    this.lastSeq = 0;
    this.epoch = 0;
    this.lanes = new Map();
    for (let w = 1; w <= workers; w++) this.lanes.set(w, newLane(w));
    this.totals = { events: 0, requests: 0, found: 0, errors: 0, rateLimits: 0, sellersFound: 0, newSellers: 0 };
    this.pipeline = { uploading: 0, deduped: 0, inserted: 0, updated: 0, last: null };
    this.buckets = new Map(); // second (epoch ms / 1000) -> requests finished in it
    this.problems = [];
    this.firstAt = null;
    this.lastAt = null;
  }

  lane(id) {
    let lane = this.lanes.get(id);
    if (!lane) { lane = newLane(id); this.lanes.set(id, lane); }
    return lane;
  }

  /** Apply one event. Returns its kind ("card", "banner", "pipeline", "gap", "restart") or null for a repeat. */
  apply(ev) {
    if (ev.action === "gap") {
      if (ev.missed === undefined || ev.missed === null) {
        // The server lost its memory of this run (it restarted): numbering starts again.
        this.lastSeq = 0;
        this.epoch += 1;
        this.addProblem(ev, "The server restarted; the feed continues from its new events (some may have been missed).");
        return "restart";
      }
      this.addProblem(ev, `${num(ev.missed)} events were missed (the connection fell behind).`);
      return "gap";
    }
    if (ev.seq !== undefined && ev.seq !== null) {
      if (ev.seq <= this.lastSeq) return null;
      this.lastSeq = ev.seq;
    }
    this.totals.events += 1;
    const t = Date.parse(ev.timestamp);
    if (!Number.isNaN(t)) { this.firstAt = this.firstAt ?? t; this.lastAt = t; }
    if (isLifecycle(ev)) {
      const state = ev.action === "paused" ? "paused" : TERMINAL_ACTIONS.has(ev.action) ? "done" : "idle";
      if (ev.action !== "started") for (const lane of this.lanes.values()) { lane.state = state; lane.dirty = true; }
      if (ev.action === "failed") this.addProblem(ev, ev.error_message || "The run failed.");
      return "banner";
    }
    if (ev.worker_id === 0) {
      if (PIPELINE_ACTIONS.has(ev.action)) {
        this.pipeline[ev.action] += ev.items_count || 0;
        this.pipeline.last = ev;
        return "pipeline";
      }
      return "banner"; // a phase finished ("amazon complete")
    }
    const lane = this.lane(ev.worker_id);
    if (WORKER_ACTIONS.has(ev.action)) {
      lane.state = LANE_STATE[ev.action];
      lane.label = ev.product_name || ev.category || lane.label;
      lane.lastAt = t;
      if (ev.api_params) lane.params = ev.api_params;
      if (ev.action === "fetching" && ev.attempt > 1) lane.retries += 1;
      if (ev.action === "found" || ev.action === "error" || ev.action === "rate_limited") {
        lane.requests += 1;
        this.totals.requests += 1;
        const sec = Math.floor(t / 1000);
        if (!Number.isNaN(sec)) this.buckets.set(sec, (this.buckets.get(sec) || 0) + 1);
        if (ev.duration_ms !== undefined && ev.duration_ms !== null) { lane.lastDuration = ev.duration_ms; lane.durSum += ev.duration_ms; lane.durN += 1; }
      }
      if (ev.action === "found") {
        lane.successes += 1;
        this.totals.found += 1;
        if (ev.phase === "ebay") { this.totals.sellersFound += ev.items_count || 0; this.totals.newSellers += ev.new_sellers_count || 0; }
      } else if (ev.action === "error") {
        const type = ev.error_type || "error";
        lane.errors[type] = (lane.errors[type] || 0) + 1;
        this.totals.errors += 1;
        this.addProblem(ev, ev.error_message || type);
      } else if (ev.action === "rate_limited") {
        this.totals.rateLimits += 1;
        lane.errors.rate_limited = (lane.errors.rate_limited || 0) + 1;
        this.addProblem(ev, ev.retry_after_seconds ? `Rate limited; the run waits ${ev.retry_after_seconds} s` : "Rate limited");
      }
      lane.dirty = true;
    }
    return "card";
  }

  addProblem(ev, text) {
    this.problems.unshift({ ev, text });
    if (this.problems.length > MAX_PROBLEMS) this.problems.length = MAX_PROBLEMS;
    this.problemsDirty = true;
  }

  /** Requests per second over the last `seconds` seconds of event time (not wall-clock timers). */
  series(seconds = 60) {
    const end = this.lastAt ? Math.floor(this.lastAt / 1000) : Math.floor(Date.now() / 1000);
    const out = [];
    for (let s = end - seconds + 1; s <= end; s++) out.push(this.buckets.get(s) || 0);
    for (const k of this.buckets.keys()) if (k < end - seconds) this.buckets.delete(k);
    return out;
  }
}

// --- the card ---------------------------------------------------------------------------------

function cardFacts(ev, params) {
  const facts = [];
  const p = ev.api_params || (ev.phase === "ebay" ? params : null);
  if (p && p.page) facts.push(`page ${p.page}`);
  if (p && p.price_min) facts.push(`${money(p.price_min)}–${money(p.price_max)}`);
  if (ev.duration_ms !== undefined) facts.push(duration(ev.duration_ms));
  if (ev.attempt && ev.attempt > 1) facts.push(`attempt ${ev.attempt}`);
  if (ev.action === "found") {
    if (ev.phase === "amazon") facts.push(`${num(ev.items_count || 0)} products`);
    else facts.push(`${num(ev.items_count || 0)} sellers, ${num(ev.new_sellers_count || 0)} new`);
  }
  if (ev.retry_after_seconds) facts.push(`retry after ${ev.retry_after_seconds} s`);
  return facts;
}

function bannerText(ev) {
  switch (ev.action) {
    case "started": return "Run started";
    case "paused": return ev.error_message ? `Run paused: ${ev.error_message}` : "Run paused";
    case "resumed": return "Run resumed";
    case "cancelled": return "Run cancelled";
    case "failed": return `Run failed${ev.error_message ? `: ${ev.error_message}` : ""}`;
    case "complete":
      if (ev.phase === "run") return `Run complete: ${num(ev.items_count || 0)} sellers found, ${num(ev.new_sellers_count || 0)} new`;
      return `${ev.phase === "amazon" ? "Amazon" : "eBay"} phase complete: ${num(ev.items_count || 0)} ${ev.phase === "amazon" ? "products" : "items"}`;
    default: return ev.action;
  }
}

const BANNER_ICON = { started: "resumed", paused: "paused", resumed: "resumed", cancelled: "cancelled", failed: "error", complete: "complete" };

// A worker card's skeleton, cloned per event (much cheaper than building each node by hand).
let workerCard = null;
function workerSkeleton() {
  if (!workerCard) {
    workerCard = h("li", { class: "card" },
      h("span", { class: "line1" }, h("span", { class: "wbadge" }), h("span", { class: "phase" }), h("span", { class: "action" }, icon("found"), h("span")), h("time", { class: "t num" })),
      h("span", { class: "subject" }),
      h("span", { class: "facts" }));
  }
  return workerCard.cloneNode(true);
}

export function buildCard(ev, kind, params) {
  if (kind === "banner" || kind === "gap" || kind === "restart") {
    const time = h("time", { class: "t num", datetime: ev.timestamp, text: clock(ev.timestamp) });
    if (kind === "banner") {
      return h("li", { class: `card banner banner-${ev.action}`, dataset: { seq: ev.seq, action: ev.action } },
        h("span", { class: "line1" }, icon(BANNER_ICON[ev.action] || "complete"), h("strong", { text: bannerText(ev) }), time));
    }
    return h("li", { class: "card banner banner-gap", dataset: { gap: ev.missed ?? "unknown" } },
      h("span", { class: "line1" }, icon("gap"), h("strong", { text: kind === "gap" ? `${num(ev.missed)} events missed here` : "Server restarted: feed resumed with its new events" }), time));
  }
  const w = ev.worker_id;
  const li = workerSkeleton();
  li.className = `card a-${ev.action}`;
  li.dataset.seq = ev.seq;
  li.dataset.worker = w;
  li.dataset.action = ev.action;
  const line1 = li.firstChild;
  const badge = line1.firstChild;
  badge.className = `wbadge w${w}`;
  badge.textContent = `W${w}`;
  line1.children[1].textContent = ev.phase;
  const action = line1.children[2];
  action.firstChild.firstChild.setAttribute("href", `#i-${ev.action}`);
  action.lastChild.textContent = ACTION_WORD[ev.action] || ev.action;
  const time = line1.lastChild;
  time.dateTime = ev.timestamp;
  time.textContent = clock(ev.timestamp);
  const subject = li.children[1];
  const text = ev.product_name || ev.category || "";
  if (text) {
    subject.textContent = text;
    subject.title = ev.category && ev.product_name ? `${ev.category} › ${ev.product_name}` : text;
  } else subject.remove();
  const facts = li.lastChild;
  const link = ev.phase === "ebay" ? ebayLink(ev, params) : null;
  const factText = cardFacts(ev, params).join(" · ");
  facts.textContent = link && factText ? `${factText} · ` : factText;
  if (link) facts.append(h("a", { href: link, target: "_blank", rel: "noopener noreferrer", text: "eBay ↗" }));
  if (ev.error_message) li.append(h("span", { class: "errmsg", text: ev.error_type ? `${ev.error_type}: ${ev.error_message}` : ev.error_message }));
  return li;
}

/** The list of cards: newest first, at most MAX_CARDS. The caller decides when to flush. */
export class FeedView {
  constructor(list, { onNewWhileFrozen } = {}) {
    this.list = list;
    this.pending = [];
    this.following = true;
    this.unseen = 0;
    this.onNewWhileFrozen = onNewWhileFrozen || (() => {});
    this.range = document.createRange();
  }

  push(ev, kind, params) {
    this.pending.push({ ev, kind, params });
    // Only the newest MAX_CARDS can ever be shown: never hold more (a hidden tab, a frozen feed).
    if (this.pending.length > 2 * MAX_CARDS) this.pending.splice(0, this.pending.length - MAX_CARDS);
    if (!this.following) { this.unseen += 1; this.onNewWhileFrozen(this.unseen); }
  }

  reset() { this.pending = []; this.list.replaceChildren(); this.unseen = 0; }

  /** Write the pending cards in one insertion and drop the oldest past the cap. Returns cards written. */
  flush() {
    if (!this.following || !this.pending.length) return 0;
    let batch = this.pending;
    this.pending = [];
    if (batch.length > MAX_CARDS) batch = batch.slice(batch.length - MAX_CARDS);
    const frag = document.createDocumentFragment();
    // A card or two at a time fade in; a burst just appears (hundreds of animations cost frames).
    const fade = batch.length <= 3;
    for (let i = batch.length - 1; i >= 0; i--) {
      const card = buildCard(batch[i].ev, batch[i].kind, batch[i].params);
      if (fade) card.classList.add("fresh");
      frag.append(card);
    }
    this.list.prepend(frag);
    const count = this.list.childElementCount;
    if (count > MAX_CARDS) {
      // One removal for the whole tail, not one per card.
      this.range.setStartBefore(this.list.children[MAX_CARDS]);
      this.range.setEndAfter(this.list.lastElementChild);
      this.range.deleteContents();
    }
    return batch.length;
  }

  follow(on) {
    this.following = on;
    if (on) this.unseen = 0;
  }
}
