// The run's own figures: one set, from the API only (GET /collection/runs/{id} and its /progress),
// never recounted from the events this page happened to receive. Every run total is an element
// carrying `data-metric` (and the raw number in `data-value`); all elements of one metric are
// written from the same answer in the same call, so they always agree.
//
// Answers are applied in the order their requests were made (a ticket each): a slow answer that
// arrives after a newer one is dropped, so a figure never goes back. The events only move what
// they are first to know: the phase (eBay pages are being fetched) and the status (paused,
// resumed, ended), until an answer asked for after them says the same.

import { h, num, usd, usdRounded, clockTime, timeLeft, coverage, coverageDetail, OPEN_STATUSES } from "./format.js";
import { percent, PHASE_WORD } from "./progress.js";

const PHASES = ["amazon", "ebay", "done"];
const KIND_ROWS = [["best_sellers", "Best-seller pages"], ["ebay_page", "eBay pages"], ["retry", "Retries"], ["rate_limited", "Answered 429"]];

function etaText(status, phase, forecast) {
  if (status === "paused") return "paused";
  if (status === "pending") return "not started";
  if (status === "completed") return "done";
  if (!OPEN_STATUSES.has(status)) return "stopped";
  if (phase === "amazon" || !forecast || forecast.eta_seconds === null || forecast.eta_seconds === undefined) return "estimating…";
  return timeLeft(forecast.eta_seconds);
}

function byKind(run) {
  const totals = {};
  for (const kinds of Object.values(run.upstream_requests || {})) {
    for (const [kind, n] of Object.entries(kinds)) totals[kind] = (totals[kind] || 0) + n;
  }
  return totals;
}

export class RunFigures {
  constructor() {
    this.run = null;
    this.progress = null;
    this.applied = 0; // ticket of the answer shown
    this.receivedAt = 0;
    this.eventPhase = null;
    this.eventProducts = null; // the product count the Amazon phase's `complete` event gave
    this.statusNote = null; // { status, ticket }: a lifecycle event newer than the answers so far
    this.metrics = new Map();
    this.setText = new WeakMap();

    // Header: phase, active time, paused time.
    this.phase = h("span", { class: "run-phase" });
    this.elapsed = h("span", { class: "num" });
    this.paused = h("span", { class: "num paused-time", hidden: true });
    this.header = h("div", { class: "run-sub muted" }, this.phase, this.elapsed, this.paused);

    // Progress strip: one bar per phase, skipped products, time left, sellers, requests and cost.
    this.catBar = this.bar("Categories", "categories_completed");
    this.prodBar = this.bar("Products", "products_searched");
    this.skipped = h("p", { class: "skipped-line muted", hidden: true });
    this.remembered = h("p", { class: "remembered-line muted", hidden: true });
    this.rate = h("span", { class: "muted" });
    this.sellersRest = h("span");
    this.projected = h("span", { class: "muted" });
    this.soFar = h("span");
    this.strip = [
      h("div", { class: "bars" }, this.catBar.el, this.prodBar.el),
      this.skipped,
      this.remembered,
      h("p", { class: "eta-line" }, this.metric("eta", "eta"), this.rate),
      h("p", { class: "num sellers-line" }, this.metric("sellers_found"), " sellers found · ", this.metric("sellers_new"), " new", this.sellersRest),
      h("p", { class: "num cost-line" }, this.metric("requests"), " requests · ", this.metric("cost"), this.soFar, this.projected),
    ];

    // Side panel: requests by kind and the cost, from the run's own counts.
    this.kindCells = new Map(KIND_ROWS.map(([kind]) => [kind, h("dd", { class: "num" })]));
    this.pagesSkipped = h("dd", { class: "num" });
    this.failed = h("dd", { class: "num" });
    this.projectedCell = h("dd", { class: "num" });
    this.perSeller = h("dd", { class: "num" });
    this.costLabel = h("dt", { text: "Cost so far" });
    this.projectedLabel = h("dt", { text: "Projected cost" });
    this.totals = h("dl", { class: "totals" },
      h("dt", { text: "Requests" }), h("dd", {}, this.metric("requests")),
      KIND_ROWS.flatMap(([kind, label]) => [h("dt", { class: "sub", text: label }), this.kindCells.get(kind)]),
      h("dt", { text: "eBay pages not needed", title: "No listing inside the price window, or the exact matches ended: not fetched, not paid" }), this.pagesSkipped,
      h("dt", { text: "Failed items" }), this.failed,
      h("dt", { text: "Seller lines read", title: "Listings on the eBay result pages read that had a readable seller line" }),
      h("dd", {}, this.metric("seller_coverage")),
      this.costLabel, h("dd", {}, this.metric("cost")),
      this.projectedLabel, this.projectedCell,
      h("dt", { text: "Cost per new seller" }), this.perSeller);
  }

  /** A new element for `name`; it is written with every other element of that metric. */
  metric(name, cls = "") {
    const el = h("span", { class: `num metric ${cls}`.trim(), dataset: { metric: name } });
    if (!this.metrics.has(name)) this.metrics.set(name, []);
    this.metrics.get(name).push(el);
    return el;
  }

  bar(label, metricName) {
    const progress = h("progress", { max: 1, value: 0, "aria-label": label });
    const rest = h("span");
    const el = h("div", { class: "bar-row" }, h("span", { class: "bar-label", text: label }), progress,
      h("span", { class: "bar-num num" }, this.metric(metricName), rest));
    return { el, progress, rest };
  }

  get status() {
    const note = this.statusNote;
    return note && note.ticket >= this.applied ? note.status : this.run && this.run.status;
  }

  get shownPhase() {
    const api = this.run ? this.run.phase : "amazon";
    return this.eventPhase && PHASES.indexOf(this.eventPhase) > PHASES.indexOf(api) ? this.eventPhase : api;
  }

  /** Show an answer made for request `ticket` (with its progress, if it was one); false if a newer one is shown. */
  accept(ticket, run, progress = null) {
    if (ticket < this.applied) return false;
    this.applied = ticket;
    this.run = run;
    if (progress) this.progress = progress;
    if (this.statusNote && this.statusNote.ticket < ticket) this.statusNote = null;
    this.receivedAt = performance.now();
    this.render();
    return true;
  }

  /**
   * What an event says before the API does: the phase the run reached (an eBay page is fetched),
   * and, from the Amazon phase's `complete` event, how many products the run has. True if news.
   */
  noteEvent(ev) {
    let news = false;
    if (ev.phase === "amazon" && ev.action === "complete" && ev.worker_id === 0) {
      news = this.eventProducts !== ev.items_count;
      this.eventProducts = ev.items_count;
    }
    const phase = ev.phase === "amazon" && ev.action === "complete" ? "ebay" : ev.phase === "amazon" || ev.phase === "ebay" ? ev.phase : null;
    if (phase && PHASES.indexOf(phase) > PHASES.indexOf(this.shownPhase)) {
      this.eventPhase = phase;
      news = true;
    }
    if (news && this.run) this.render();
    return news;
  }

  /** A lifecycle event (`ticket`: the last request made before it) changed the status. */
  noteStatus(status, ticket) {
    if (!this.run || status === this.status) return;
    this.statusNote = { status, ticket };
    this.render();
  }

  setMetric(name, text, value) {
    for (const el of this.metrics.get(name) || []) {
      if (el.textContent !== text) el.textContent = text;
      const v = value === null || value === undefined ? "" : String(value);
      if (el.dataset.value !== v) el.dataset.value = v;
    }
  }

  text(el, value) {
    if (this.setText.get(el) !== value) { this.setText.set(el, value); el.textContent = value; }
  }

  render() {
    const r = this.run;
    const forecast = this.progress ? this.progress.forecast : null;
    const status = this.status;
    this.text(this.phase, `Phase: ${PHASE_WORD[this.shownPhase] || this.shownPhase}`);
    this.setMetric("categories_completed", num(r.categories_completed), r.categories_completed);
    this.setMetric("products_searched", num(r.products_searched), r.products_searched);
    this.setMetric("sellers_found", num(r.sellers_found), r.sellers_found);
    this.setMetric("sellers_new", num(r.sellers_new), r.sellers_new);
    this.setMetric("requests", num(r.requests_total), r.requests_total);
    this.setMetric("cost", usd(r.upstream_cost), r.upstream_cost);
    this.setMetric("seller_coverage", coverage(r), r.seller_coverage);
    for (const el of this.metrics.get("seller_coverage")) if (el.title !== coverageDetail(r)) el.title = coverageDetail(r);
    this.setMetric("eta", etaText(status, this.shownPhase, forecast), OPEN_STATUSES.has(status) && forecast ? forecast.eta_seconds : null);
    this.renderBar(this.catBar, r.categories_completed, r.categories_total);
    // Before the Amazon phase has listed them, the number of products is not known: no "0 / 0".
    // Its `complete` event carries the run's count, which an answer asked for earlier may lack.
    const products = this.shownPhase === "amazon" ? r.products_total : Math.max(r.products_total, this.eventProducts || 0);
    this.renderBar(this.prodBar, r.products_searched, products, products ? null : " (listing best sellers…)");
    this.renderSkipped();
    const ended = !OPEN_STATUSES.has(r.status);
    this.text(this.sellersRest, `${r.failed_items ? ` · ${num(r.failed_items)} failed items` : ""}${r.seller_count_snapshot !== null && ended ? ` · ${num(r.seller_count_snapshot)} sellers in the list when it ended` : ""}`);
    const projected = forecast ? forecast.projected_cost : null;
    this.text(this.projected, ended ? "" : projected !== null && projected !== undefined ? ` · about ${usdRounded(projected)} projected`
      : ` · projected once ${this.shownPhase === "amazon" ? "the products are listed" : "the first products are searched"}`);
    this.text(this.soFar, ended ? " in all" : " so far");
    this.text(this.rate, this.rateText(r, status, forecast));
    this.renderTotals(r, ended ? null : projected);
    this.tick();
  }

  renderBar(bar, done, total, note = null) {
    if (bar.progress.max !== (total || 1)) bar.progress.max = total || 1;
    if (bar.progress.value !== done) bar.progress.value = done;
    const pct = total ? Math.min(100, Math.round((100 * done) / total)) : 0;
    this.text(bar.rest, note ?? ` / ${num(total)} (${pct}%)`);
  }

  renderSkipped() {
    const skipped = this.progress ? this.progress.skipped_products || [] : [];
    const count = skipped.reduce((n, s) => n + s.count, 0);
    this.skipped.hidden = count === 0;
    this.text(this.skipped, count ? `Includes ${num(count)} skipped, not searched: ${skipped.map((s) => `${s.reason} (${num(s.count)})`).join(" · ")}` : "");
    // Products the search memory left out (refresh "new"): not in the products bar, not paid for.
    const r = this.run;
    const remembered = r ? r.products_remembered || 0 : 0;
    const days = r && r.settings ? r.settings.refresh_after_days : 7;
    this.remembered.hidden = remembered === 0;
    this.text(this.remembered, remembered ? `${num(remembered)} more products remembered: searched within the last ${days === 1 ? "day" : `${num(days)} days`}, not searched again` : "");
  }

  rateText(r, status, forecast) {
    if (status === "running" && forecast && forecast.products_per_minute) return ` at ${num(Math.round(forecast.products_per_minute))} products a minute`;
    if (status === "paused" && r.phase === "ebay") return ` · ${num(Math.max(0, r.products_total - r.products_searched))} products left to search`;
    if (status === "completed" && r.active_seconds !== null) return ` · ${num(r.products_searched)} products in ${clockTime(r.active_seconds * 1000)} of active time`;
    return "";
  }

  renderTotals(r, projected) {
    const ended = !OPEN_STATUSES.has(r.status);
    this.text(this.costLabel, ended ? "Cost" : "Cost so far");
    this.projectedLabel.hidden = this.projectedCell.hidden = ended;
    const kinds = byKind(r);
    for (const [kind, cell] of this.kindCells) this.text(cell, num(kinds[kind] || 0));
    this.text(this.pagesSkipped, num(r.ebay_pages_skipped));
    this.text(this.failed, num(r.failed_items));
    this.text(this.projectedCell, projected === null || projected === undefined ? "–" : usdRounded(projected));
    this.text(this.perSeller, r.cost_per_new_seller === null || r.cost_per_new_seller === undefined ? "–" : usd(r.cost_per_new_seller));
  }

  /** Once a second: active and paused time, counted on from the last answer while they run. */
  tick() {
    const r = this.run;
    if (!r) return;
    const since = performance.now() - this.receivedAt;
    const status = r.status;
    const active = r.active_seconds === null ? null : r.active_seconds * 1000 + (status === "running" ? since : 0);
    const paused = r.paused_seconds * 1000 + (status === "paused" ? since : 0);
    this.text(this.elapsed, active === null ? "Not started" : `Elapsed ${clockTime(active)}`);
    this.paused.hidden = paused < 1000;
    this.text(this.paused, `paused ${clockTime(paused)}`);
  }

  /** "64% · Run 12" for the tab title, and the percentage for the favicon. */
  get percent() { return this.run ? percent({ ...this.run, phase: this.shownPhase }) : 0; }
}
