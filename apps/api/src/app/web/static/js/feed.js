// The run's event store and the feed renderer.
//
// One stream, one store: every event passes `RunStore.apply` once (lanes, pipeline steps, throughput,
// problems), and the DOM is written at most once per animation frame from what changed. The feed
// keeps at most MAX_CARDS cards; a burst larger than that is trimmed to its newest before any
// node is built. Upstream text only ever goes in through textContent.

import { h, icon, clock, duration, money, num } from "./format.js";
import { marketplaceUrl } from "./links.js";

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
  if (ev.url) return marketplaceUrl(ev.url); // upstream data: a link only to eBay's or Amazon's own sites
  const p = ev.api_params || params;
  if (!p || !p.query) return null;
  // Brand New, free shipping, US sellers, the price window: the search the worker made.
  let url = `https://www.ebay.com/sch/i.html?_nkw=${encodeURIComponent(p.query)}&LH_ItemCondition=1000&LH_FS=1&LH_PrefLoc=1`;
  if (p.price_min) url += `&_udlo=${(p.price_min / 100).toFixed(2)}`;
  if (p.price_max) url += `&_udhi=${(p.price_max / 100).toFixed(2)}`;
  if (p.page && p.page > 1) url += `&_pgn=${p.page}`;
  return marketplaceUrl(url);
}

function newLane(id) {
  return { id, state: "idle", label: "", lastDuration: null, lastAt: null, requests: 0, successes: 0, retries: 0, errors: {}, durSum: 0, durN: 0, params: null, dirty: true };
}

// Sequence numbers remembered for telling a replay from a renumbering (see `apply`): far more
// than a replay (the server keeps the last 100) can hold.
const SEEN_KEPT = 2000;

/**
 * The reducer: what the page knows from the run's events (worker lanes, the pipeline's latest
 * steps, throughput, problems). It counts no run totals: those are the run's own (run_figures.js).
 *
 * Every event with a `seq` is applied once, however it arrives (replay, live, a reconnect, a
 * reload's replay): an event at or below the last applied `seq` is a repeat and is dropped.
 */
export class RunStore {
  constructor(workers = 5) {
    this.lastSeq = 0;
    this.epoch = 0;
    this.received = 0;
    this.seen = new Set();
    this.afterUnknownGap = false;
    this.lanes = new Map();
    for (let w = 1; w <= workers; w++) this.lanes.set(w, newLane(w));
    this.pipeline = []; // the latest pipeline steps, newest last
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

  /** Whether `seq` is new. After a gap of unknown size, a lower number never seen means the server numbered afresh. */
  accept(seq) {
    if (this.afterUnknownGap) {
      this.afterUnknownGap = false;
      if (seq <= this.lastSeq && !this.seen.has(seq)) {
        this.lastSeq = 0;
        this.seen.clear();
        this.epoch += 1;
        this.renumbered = true;
      }
    }
    if (seq <= this.lastSeq || this.seen.has(seq)) return false;
    this.lastSeq = seq;
    this.seen.add(seq);
    if (this.seen.size > SEEN_KEPT) this.seen.delete(this.seen.values().next().value);
    return true;
  }

  /**
   * Apply one event. Returns its kind ("card", "banner", "pipeline", "gap", "restart") or null for a
   * repeat; `renumbered` is then true if the server numbered afresh (the cards shown so far go).
   */
  apply(ev) {
    this.renumbered = false;
    if (ev.action === "gap") {
      if (ev.missed === undefined || ev.missed === null) {
        // The server cannot tell what this page missed (it restarted, or lost the run's stream).
        this.afterUnknownGap = true;
        this.addProblem(ev, ev.error_message || "The server restarted; the feed continues from its new events (some may have been missed).");
        return "restart";
      }
      this.addProblem(ev, `${num(ev.missed)} events were missed (the connection fell behind).`);
      return "gap";
    }
    if (ev.seq !== undefined && ev.seq !== null && !this.accept(ev.seq)) return null;
    this.received += 1;
    return this.reduce(ev);
  }

  reduce(ev) {
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
        this.pipeline.push(ev);
        if (this.pipeline.length > 3) this.pipeline.shift();
        return "pipeline";
      }
      return "banner"; // a phase finished ("amazon complete")
    }
    const lane = this.lane(ev.worker_id);
    if (WORKER_ACTIONS.has(ev.action)) this.reduceWorker(lane, ev, t);
    return "card";
  }

  reduceWorker(lane, ev, t) {
    lane.state = LANE_STATE[ev.action];
    lane.label = ev.product_name || ev.category || lane.label;
    lane.lastAt = t;
    if (ev.api_params) lane.params = ev.api_params;
    if (ev.action === "fetching" && ev.attempt > 1) lane.retries += 1;
    if (ev.action === "found" || ev.action === "error" || ev.action === "rate_limited") {
      lane.requests += 1;
      const sec = Math.floor(t / 1000);
      if (!Number.isNaN(sec)) this.buckets.set(sec, (this.buckets.get(sec) || 0) + 1);
      if (ev.duration_ms !== undefined && ev.duration_ms !== null) { lane.lastDuration = ev.duration_ms; lane.durSum += ev.duration_ms; lane.durN += 1; }
    }
    if (ev.action === "found") {
      lane.successes += 1;
    } else if (ev.action === "error") {
      const type = ev.error_type || "error";
      lane.errors[type] = (lane.errors[type] || 0) + 1;
      this.addProblem(ev, ev.error_message || type);
    } else if (ev.action === "rate_limited") {
      lane.errors.rate_limited = (lane.errors.rate_limited || 0) + 1;
      this.addProblem(ev, ev.retry_after_seconds ? `Rate limited; the run waits ${ev.retry_after_seconds} s` : "Rate limited");
    }
    lane.dirty = true;
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
    case "waiting_for_database": return `Waiting for the database (${duration(ev.duration_ms || 0)})`;
    case "database_back": return `The database answers again (after ${duration(ev.duration_ms || 0)})`;
    case "cancelled": return "Run cancelled";
    case "failed": return `Run failed${ev.error_message ? `: ${ev.error_message}` : ""}`;
    case "remembered": return `${ev.category ? `${ev.category}: ` : ""}${ev.message || `${num(ev.items_count || 0)} products remembered`}`;
    case "complete":
      if (ev.phase === "run") return `Run complete: ${num(ev.items_count || 0)} sellers found, ${num(ev.new_sellers_count || 0)} new`;
      return `${ev.phase === "amazon" ? "Amazon" : "eBay"} phase complete: ${num(ev.items_count || 0)} ${ev.phase === "amazon" ? "products" : "items"}`;
    default: return ev.action;
  }
}

const PIPELINE_WORDS = {
  uploading: ["product stored", "products stored"],
  deduped: ["seller already known", "sellers already known"],
  inserted: ["new seller added", "new sellers added"],
  updated: ["seller updated", "sellers updated"],
};
const pipelineStep = (s) => {
  const n = s.items_count || 0;
  const words = PIPELINE_WORDS[s.action];
  return `${num(n)} ${words ? words[n === 1 ? 0 : 1] : s.action}`;
};

/** The pipeline's latest steps in words ("W3: 7 new sellers added · 5 sellers already known"). */
export function pipelineText(steps) {
  if (!steps.length) return "";
  const last = steps[steps.length - 1];
  const same = steps.filter((s) => s.source_worker_id === last.source_worker_id && s.phase === last.phase).slice(-2);
  const who = last.source_worker_id ? `W${last.source_worker_id}` : "pipeline";
  return `Latest stored (${who}, ${clock(last.timestamp)}): ${same.map(pipelineStep).join(" · ")}`;
}

const BANNER_ICON = { started: "resumed", paused: "paused", resumed: "resumed", cancelled: "cancelled", failed: "error", complete: "complete", waiting_for_database: "paused", database_back: "resumed" };

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

/**
 * The sellers a `found` event names (up to three, the new ones first), new ones marked, and
 * "+N more" for the rest it counted: "Sellers: acme-deals new · shopmart +2 more".
 */
function sellerNames(ev) {
  const named = ev.sellers.slice(0, 3);
  const line = h("span", { class: "seller-names" }, h("span", { class: "muted", text: "Sellers: " }));
  named.forEach((s, i) => {
    if (i) line.append(" · ");
    line.append(h("span", { class: "found-seller", dataset: { new: String(Boolean(s.new)) }, text: s.name }));
    if (s.new) line.append(" ", h("span", { class: "tag tag-new", text: "new" }));
  });
  const more = (ev.items_count || 0) - named.length;
  if (more > 0) line.append(" ", h("span", { class: "muted more", text: `+${num(more)} more` }));
  return line;
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
  if (ev.action === "found" && ev.sellers && ev.sellers.length) li.append(sellerNames(ev));
  if (ev.error_message) li.append(h("span", { class: "errmsg", text: ev.error_type ? `${ev.error_type}: ${ev.error_message}` : ev.error_message }));
  return li;
}

/**
 * The list of cards: newest first, at most MAX_CARDS. The caller decides when to flush.
 *
 * Keyed by `seq`: a card whose `seq` is already shown or waiting is never built a second time,
 * whichever way its event came back (the store drops repeats too; this holds even if it did not).
 */
export class FeedView {
  constructor(list, { onNewWhileFrozen } = {}) {
    this.list = list;
    this.pending = [];
    this.keys = new Map(); // seq -> its card, or null while it waits in `pending`
    this.following = true;
    this.unseen = 0;
    this.onNewWhileFrozen = onNewWhileFrozen || (() => {});
    this.range = document.createRange();
  }

  push(ev, kind, params) {
    const seq = ev.seq;
    if (seq !== undefined && seq !== null) {
      if (this.keys.has(seq)) return;
      this.keys.set(seq, null);
    }
    this.pending.push({ ev, kind, params });
    // Only the newest MAX_CARDS can ever be shown: never hold more (a hidden tab, a frozen feed).
    if (this.pending.length > 2 * MAX_CARDS) this.forget(this.pending.splice(0, this.pending.length - MAX_CARDS));
    if (!this.following) { this.unseen += 1; this.onNewWhileFrozen(this.unseen); }
  }

  forget(items) {
    for (const { ev } of items) if (ev.seq !== undefined && ev.seq !== null) this.keys.delete(ev.seq);
  }

  reset() { this.pending = []; this.keys.clear(); this.list.replaceChildren(); this.unseen = 0; }

  /** Write the pending cards in one insertion and drop the oldest past the cap. Returns cards written. */
  flush() {
    if (!this.following || !this.pending.length) return 0;
    let batch = this.pending;
    this.pending = [];
    if (batch.length > MAX_CARDS) {
      this.forget(batch.slice(0, batch.length - MAX_CARDS));
      batch = batch.slice(batch.length - MAX_CARDS);
    }
    const frag = document.createDocumentFragment();
    // A card or two at a time fade in; a burst just appears (hundreds of animations cost frames).
    const fade = batch.length <= 3;
    for (let i = batch.length - 1; i >= 0; i--) {
      const { ev, kind, params } = batch[i];
      const card = buildCard(ev, kind, params);
      if (fade) card.classList.add("fresh");
      if (ev.seq !== undefined && ev.seq !== null) this.keys.set(ev.seq, card);
      frag.append(card);
    }
    this.list.prepend(frag);
    const count = this.list.childElementCount;
    if (count > MAX_CARDS) {
      const first = this.list.children[MAX_CARDS];
      for (let el = first; el; el = el.nextElementSibling) if (el.dataset.seq) this.keys.delete(Number(el.dataset.seq));
      // One removal for the whole tail, not one per card.
      this.range.setStartBefore(first);
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
