// Run detail: header and controls, progress strip, five worker lanes, the live feed, the run's
// requests and cost, throughput and problems. One EventSource on the session cookie feeds one
// store (lanes, feed, problems); the run's figures come from the API alone (run_figures.js),
// asked again at most once a second while events arrive. The DOM is written at most once per
// frame (feed, lanes, pipeline strip) and once a second (chart, ages, elapsed time).

import { api, ApiError } from "./api.js";
import { h, num, duration, statusBadge, errorBox, ago, OPEN_STATUSES } from "./format.js";
import { controls } from "./progress.js";
import { RunStore, FeedView, isTerminal, pipelineText } from "./feed.js";
import { RunFigures } from "./run_figures.js";

// The run's figures are asked for at most this often while events say they change, and this
// often anyway while it runs (the request counts and cost reach the run row about once a second,
// between events too); a paused or pending run changes only by a person's hand.
const FIGURES_MIN_GAP_MS = 1000;
const FIGURES_RUNNING_MS = 1500;
const FIGURES_IDLE_MS = 5000;
const MIN_FRAME_GAP_MS = 100;
const STATUS_SUMMARY_MS = 10000;
const STATE_WORD = { idle: "idle", fetching: "fetching", found: "found", error: "error", "rate-limited": "rate-limited", paused: "paused", done: "done" };

// Test and benchmark hooks: counters only, no behaviour depends on them.
const metrics = (window.__scMetrics = window.__scMetrics || {});

function favicon(status, pct) {
  const colour = { running: "#0072B2", paused: "#E69F00", completed: "#009E73", failed: "#D55E00", cancelled: "#888" }[status] || "#888";
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="none" stroke="${colour}" stroke-width="2" opacity=".35"/><path d="M8 1a7 7 0 ${pct > 50 ? 1 : 0} 1 ${(8 + 7 * Math.sin((2 * Math.PI * pct) / 100)).toFixed(2)} ${(8 - 7 * Math.cos((2 * Math.PI * pct) / 100)).toFixed(2)}" fill="none" stroke="${colour}" stroke-width="2"/></svg>`;
  document.getElementById("favicon").href = `data:image/svg+xml,${encodeURIComponent(svg)}`;
}

function laneView(id) {
  const state = h("span", { class: "lane-state" });
  const label = h("span", { class: "lane-label" });
  const last = h("span", { class: "lane-last num" });
  const age = h("span", { class: "lane-age num" });
  const counters = h("span", { class: "lane-counters num" });
  const errors = h("span", { class: "lane-errors num" });
  const el = h("li", { class: "lane", dataset: { worker: id, state: "idle" } },
    h("span", { class: "lane-head" }, h("span", { class: `wbadge w${id}`, text: `W${id}` }), state), label,
    h("span", { class: "lane-meta" }, last, age), counters, errors);
  const shown = {};
  const set = (node, key, text) => { if (shown[key] !== text) { shown[key] = text; node.textContent = text; } };
  return {
    el,
    render(lane) {
      if (el.dataset.state !== lane.state) el.dataset.state = lane.state;
      set(state, "state", STATE_WORD[lane.state] || lane.state);
      set(label, "label", lane.label || "–");
      if (label.title !== lane.label) label.title = lane.label || "";
      set(last, "last", lane.lastDuration === null ? "" : `last ${duration(lane.lastDuration)} · avg ${duration(lane.durSum / lane.durN)}`);
      set(counters, "counters", `${num(lane.requests)} req · ${num(lane.successes)} ok · ${num(lane.retries)} retries`);
      const errs = Object.entries(lane.errors).map(([k, v]) => `${k.replace("_", " ")} ${num(v)}`).join(" · ");
      set(errors, "errors", errs ? `errors: ${errs}` : "no errors");
    },
    tick(lane, now) { set(age, "age", lane.lastAt ? ago(lane.lastAt, now) : ""); },
  };
}

function sparkline(values) {
  const w = 240, hgt = 48, max = Math.max(1, ...values);
  const pts = values.map((v, i) => `${((i / Math.max(1, values.length - 1)) * w).toFixed(1)},${(hgt - (v / max) * (hgt - 4) - 2).toFixed(1)}`).join(" ");
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
  svg.setAttribute("class", "spark");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `Requests per second over the last minute, peak ${max}`);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", pts);
  svg.append(line);
  return svg;
}

const LIFECYCLE_STATUS = { paused: "paused", resumed: "running", started: "running", complete: "completed", failed: "failed", cancelled: "cancelled" };

export function mount(view, [runId], app) {
  const store = new RunStore(5);
  const figures = new RunFigures();
  const err = errorBox();
  let stopped = false;
  let ended = false;
  let es = null;
  let attempts = 0;
  let reconnectTimer = null;
  let frame = 0;
  let rateLimitUntil = null;
  let pipelineDirty = false;
  // The figures' requests: numbered as they are made (answers apply in that order), one at a time.
  let issued = 0;
  let inFlight = false;
  let again = false;
  let lastAsk = -Infinity;
  let figTimer = 0;
  let figDue = Infinity;
  Object.assign(metrics, { received: 0, rendered: 0, frames: 0, maxCards: 0, connects: 0 });

  // --- static layout (built once; only text inside it changes) ---------------------------------
  const title = h("h1", { class: "run-name", text: "Run" });
  const badge = h("span", { class: "badge-slot" });
  const ctl = controls(runId, (r, ticket) => { show(ticket, r); askFigures(0); }, { ticket: () => ++issued });
  const reason = h("p", { class: "error-text notice", hidden: true });
  const waitLine = h("p", { class: "wait", hidden: true });
  const extra = h("dl", { class: "extra" });
  const laneList = h("ol", { class: "lanes", "aria-label": "Workers" });
  const lanes = new Map();
  const pipelineStrip = h("p", { class: "pipeline-strip", "aria-label": "Pipeline" });
  const gapNotice = h("p", { class: "gap-notice", role: "alert", hidden: true });
  const list = h("ol", { class: "feed", id: "feed", "aria-label": "Activity feed, newest first" });
  const newPill = h("button", { type: "button", class: "new-pill", hidden: true });
  const followBtn = h("button", { type: "button", class: "ghost", "aria-pressed": "true", text: "Following" });
  const feedInfo = h("span", { class: "muted num feed-info" });
  const scroller = h("div", { class: "feed-scroll", dataset: { following: "true" } }, list);
  const chartSlot = h("div", { class: "chart" });
  const problems = h("ol", { class: "problems", "aria-label": "Errors, rate limits and gaps" });
  const feed = new FeedView(list, { onNewWhileFrozen: (n) => { newPill.hidden = false; newPill.textContent = `${num(n)} new events`; } });

  const layout = h("div", { class: "run-detail" },
    h("header", { class: "run-head" },
      h("div", { class: "run-title-row" }, title, badge),
      figures.header,
      ctl.el),
    err.el,
    reason,
    h("section", { class: "panel progress-strip", "aria-label": "Progress" }, figures.strip, waitLine, extra),
    h("section", { class: "workers", "aria-label": "Workers" }, laneList,
      h("p", { class: "lanes-note muted", text: "Worker figures count the events this page has received; the run's totals above are the run's own." })),
    h("div", { class: "run-body" },
      h("section", { class: "panel feed-panel", "aria-labelledby": "feed-title" },
        h("div", { class: "row spread" }, h("h2", { id: "feed-title", text: "Live feed" }), h("span", { class: "row" }, feedInfo, followBtn)),
        pipelineStrip, gapNotice, newPill, scroller),
      h("aside", { class: "side" },
        h("section", { class: "panel", "aria-labelledby": "totals-title" }, h("h2", { id: "totals-title", text: "Requests and cost" }), figures.totals),
        h("section", { class: "panel", "aria-labelledby": "chart-title" }, h("h2", { id: "chart-title", text: "Requests per second" }),
          h("p", { class: "muted small", text: "From the events this page received" }), chartSlot),
        h("section", { class: "panel", "aria-labelledby": "problems-title" }, h("h2", { id: "problems-title", text: "Errors and rate limits" }), problems))));
  view.append(layout);
  document.title = "Run · SellerCollection";

  function ensureLane(id) {
    let lv = lanes.get(id);
    if (!lv) {
      lv = laneView(id);
      lanes.set(id, lv);
      const after = [...lanes.keys()].sort((a, b) => a - b);
      laneList.replaceChildren(...after.map((k) => lanes.get(k).el));
    }
    return lv;
  }
  for (const id of store.lanes.keys()) ensureLane(id);

  // --- follow mode ------------------------------------------------------------------------------
  function setFollow(on) {
    feed.follow(on);
    followBtn.setAttribute("aria-pressed", String(on));
    followBtn.textContent = on ? "Following" : "Paused feed";
    scroller.dataset.following = String(on);
    if (on) { newPill.hidden = true; scroller.scrollTop = 0; schedule(); }
  }
  followBtn.addEventListener("click", () => setFollow(!feed.following));
  newPill.addEventListener("click", () => setFollow(true));
  scroller.addEventListener("scroll", () => {
    const away = scroller.scrollTop > 60;
    if (away && feed.following) setFollow(false);
    else if (scroller.scrollTop === 0 && !feed.following && followBtn.dataset.manual !== "1") setFollow(true);
  }, { passive: true });

  // --- rendering --------------------------------------------------------------------------------
  // DOM writes happen in an animation frame, and at most every MIN_FRAME_GAP_MS: at hundreds of
  // events per second a write per frame costs more in style and layout than the cards themselves.
  let lastFrameAt = 0;
  let throttle = 0;
  function schedule() {
    if (frame || throttle || stopped || document.hidden) return;
    const wait = lastFrameAt + MIN_FRAME_GAP_MS - performance.now();
    if (wait > 0) throttle = setTimeout(() => { throttle = 0; schedule(); }, wait);
    else frame = requestAnimationFrame(renderFrame);
  }

  function renderFrame() {
    frame = 0;
    lastFrameAt = performance.now();
    const t0 = performance.now();
    let written = feed.flush();
    for (const lane of store.lanes.values()) {
      if (!lane.dirty) continue;
      lane.dirty = false;
      ensureLane(lane.id).render(lane);
    }
    if (pipelineDirty) {
      pipelineDirty = false;
      pipelineStrip.textContent = pipelineText(store.pipeline);
      written += metrics.pendingPipeline || 0;
      metrics.pendingPipeline = 0;
    }
    if (store.problemsDirty) {
      store.problemsDirty = false;
      problems.replaceChildren(...store.problems.slice(0, 20).map((p) => h("li", { class: `problem a-${p.ev.action}` },
        p.ev.worker_id ? h("span", { class: `wbadge w${p.ev.worker_id}`, text: `W${p.ev.worker_id}` }) : null,
        h("span", { text: p.text }))));
    }
    const shown = `newest ${num(list.childElementCount)} shown`;
    if (feedInfo.textContent !== shown) feedInfo.textContent = shown;
    metrics.rendered += written;
    metrics.frames += 1;
    metrics.maxCards = Math.max(metrics.maxCards, list.childElementCount);
    metrics.renderMs = (metrics.renderMs || 0) + (performance.now() - t0);
    if (feed.pending.length && feed.following) schedule();
  }

  function onEvent(ev) {
    metrics.received += 1;
    const kind = store.apply(ev);
    if (kind === null) return;
    if (store.renumbered) feed.reset(); // numbers seen before may come again: the old cards go
    if (kind === "gap" || kind === "restart") {
      gapNotice.hidden = false;
      gapNotice.textContent = kind === "gap"
        ? `${num(ev.missed)} events were missed because the connection fell behind. The run's figures above stay exact.`
        : "The server restarted. The feed continues with the events it sends now; the run's figures above stay exact.";
    }
    if (kind === "pipeline") { pipelineDirty = true; metrics.pendingPipeline = (metrics.pendingPipeline || 0) + 1; }
    else feed.push(ev, kind, ev.worker_id ? store.lane(ev.worker_id).params : null);
    followEvent(ev);
    if (ev.action === "rate_limited" && ev.retry_after_seconds) rateLimitUntil = Date.now() + ev.retry_after_seconds * 1000;
    if (isTerminal(ev)) finish();
    schedule();
  }

  /** What an event tells the figures before the API does: a new phase or status; and that they changed. */
  function followEvent(ev) {
    const status = ev.phase === "run" ? LIFECYCLE_STATUS[ev.action] : null;
    if (status) {
      figures.noteStatus(status, issued);
      renderStatus();
      askFigures(0);
      return;
    }
    if (figures.noteEvent(ev)) { renderStatus(); askFigures(0); } else askFigures(lastAsk + FIGURES_MIN_GAP_MS - performance.now());
  }

  // --- the run's figures ------------------------------------------------------------------------
  /** Show an answer made for request `ticket`; false when a newer answer is already shown. */
  function show(ticket, run, progress = null) {
    if (!figures.accept(ticket, run, progress)) return false;
    renderStatus();
    if (run.status_reason) { reason.hidden = false; reason.textContent = run.status_reason; } else reason.hidden = true;
    return true;
  }

  function renderStatus() {
    const run = figures.run;
    if (!run) return;
    const status = figures.status;
    title.textContent = run.name;
    if (badge.dataset.status !== status) { badge.replaceChildren(statusBadge(status)); badge.dataset.status = status; }
    layout.dataset.status = status;
    if (!ctl.el.dataset.pending) ctl.update(status);
    const pct = figures.percent;
    document.title = `${pct}% · ${run.name}`;
    favicon(status, pct);
  }

  function renderProgressExtras(p) {
    rateLimitUntil = p.rate_limited_for_seconds ? Date.now() + p.rate_limited_for_seconds * 1000 : rateLimitUntil && rateLimitUntil > Date.now() ? rateLimitUntil : null;
    // Fields other issues may add to progress (request counts, limits): shown as they come.
    const known = new Set(["run", "items", "workers", "executing_here", "rate_limited_for_seconds", "skipped_products", "forecast"]);
    const extras = Object.entries(p).filter(([k, v]) => !known.has(k) && (typeof v === "number" || typeof v === "string"));
    extra.replaceChildren(...extras.flatMap(([k, v]) => [h("dt", { text: k.replaceAll("_", " ") }), h("dd", { class: "num", text: typeof v === "number" ? num(v) : v })]));
    for (const w of p.workers || []) {
      const lane = store.lane(w.worker_id);
      if (lane.lastAt === null && w.state) { lane.state = w.state.replace("_", "-"); lane.label = w.label || ""; lane.dirty = true; }
    }
    schedule();
  }

  /** Ask for the run's progress in `delayMs` (or sooner, if already planned sooner). */
  function askFigures(delayMs) {
    if (stopped) return;
    const wait = Math.max(0, delayMs);
    const at = performance.now() + wait;
    if (figTimer && figDue <= at) return;
    clearTimeout(figTimer);
    figDue = at;
    figTimer = setTimeout(fetchFigures, wait);
  }

  async function fetchFigures() {
    figTimer = 0;
    figDue = Infinity;
    if (stopped) return;
    if (inFlight) { again = true; return; }
    inFlight = true;
    lastAsk = performance.now();
    const ticket = ++issued;
    let next = null;
    try {
      const p = await api(`/collection/runs/${runId}/progress`);
      if (stopped) return;
      err.clear();
      if (show(ticket, p.run, p)) renderProgressExtras(p);
      const status = figures.status;
      if (OPEN_STATUSES.has(status) && !document.hidden) next = status === "running" ? FIGURES_RUNNING_MS : FIGURES_IDLE_MS;
    } catch (e) {
      if (stopped) return;
      if (e instanceof ApiError && (e.status === 404 || e.status === 422)) { notFound(); return; }
      err.show(e);
      next = FIGURES_IDLE_MS;
    } finally {
      inFlight = false;
    }
    if (again) { again = false; askFigures(lastAsk + FIGURES_MIN_GAP_MS - performance.now()); }
    else if (next !== null) askFigures(next);
  }

  function notFound() {
    stop();
    document.title = "Run not found · SellerCollection";
    view.replaceChildren(h("section", { class: "panel not-found" }, h("h1", { text: "Run not found" }),
      h("p", { text: "There is no run with this id in your organisation." }), h("a", { href: "/", "data-nav": true, text: "Back to runs" })));
  }

  // --- the stream ---------------------------------------------------------------------------------
  function connect() {
    if (stopped || ended || es) return;
    reconnectTimer = null;
    metrics.connects += 1;
    // A fresh EventSource sends no Last-Event-ID; the query parameter carries where we are.
    const url = `/collection/runs/${encodeURIComponent(runId)}/activity${store.lastSeq ? `?last_event_id=${store.lastSeq}` : ""}`;
    const source = (es = new EventSource(url));
    source.onopen = () => { attempts = 0; app.setChip("live", "Live"); };
    source.onmessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch { return; }
      onEvent(ev);
    };
    source.onerror = async () => {
      if (es !== source || ended) return;
      if (source.readyState === EventSource.CONNECTING) {
        attempts += 1;
        app.setChip("reconnecting", `Reconnecting (attempt ${attempts})`);
        return;
      }
      // Closed for good (204 after the end, or an error status): find out which.
      es = null;
      const ticket = ++issued;
      try {
        const r = await api(`/collection/runs/${runId}`);
        if (stopped) return;
        show(ticket, r);
        if (!OPEN_STATUSES.has(r.status)) { finish(); return; }
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return notFound();
        if (e instanceof ApiError && e.status === 401) return;
      }
      if (stopped || ended || es || reconnectTimer) return; // reconnected meanwhile (back online)
      attempts += 1;
      app.setChip(navigator.onLine === false ? "offline" : "reconnecting", `${navigator.onLine === false ? "Offline" : "Reconnecting"} (attempt ${attempts})`);
      const delay = Math.min(15000, 500 * 2 ** Math.min(attempts, 5)) * (0.5 + Math.random() / 2);
      reconnectTimer = setTimeout(connect, delay);
    };
  }

  function finish() {
    if (ended) return;
    ended = true;
    if (es) { es.close(); es = null; }
    app.setChip("ended", "Ended");
    askFigures(0); // the final figures, exact
  }

  // --- once a second: elapsed, countdown, lane ages, chart; every ten: a polite summary ---------
  function tick() {
    if (stopped) return;
    const now = Date.now();
    figures.tick();
    if (rateLimitUntil && rateLimitUntil > now) {
      waitLine.hidden = false;
      waitLine.textContent = `Rate limited: the run waits, next try in ${Math.ceil((rateLimitUntil - now) / 1000)} s`;
    } else waitLine.hidden = true;
    for (const lane of store.lanes.values()) ensureLane(lane.id).tick(lane, now);
    chartSlot.replaceChildren(sparkline(store.series(60)));
  }
  const tickTimer = setInterval(tick, 1000);
  const summaryTimer = setInterval(() => {
    const run = figures.run;
    if (run) app.status(`${run.name}: ${figures.status}, ${figures.percent}% done, ${num(run.sellers_found)} sellers found, ${num(run.sellers_new)} new.`);
  }, STATUS_SUMMARY_MS);

  const onVisible = () => {
    if (document.hidden) return;
    schedule();
    if (figures.run && OPEN_STATUSES.has(figures.status)) askFigures(0);
  };
  document.addEventListener("visibilitychange", onVisible);
  const onOnline = () => {
    if (es || ended || stopped) return;
    if (reconnectTimer) { clearTimeout(reconnectTimer); reconnectTimer = null; }
    connect();
  };
  window.addEventListener("online", onOnline);

  function stop() {
    stopped = true;
    if (es) { es.close(); es = null; }
    if (reconnectTimer) clearTimeout(reconnectTimer);
    if (figTimer) clearTimeout(figTimer);
    if (frame) cancelAnimationFrame(frame);
    if (throttle) clearTimeout(throttle);
    clearInterval(tickTimer);
    clearInterval(summaryTimer);
    document.removeEventListener("visibilitychange", onVisible);
    window.removeEventListener("online", onOnline);
    app.setChip(null);
    document.getElementById("favicon").href = "data:,";
  }

  // Load the run first: an unknown or foreign id is "not found" without opening a stream.
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(runId)) { notFound(); return stop; }
  const first = ++issued;
  api(`/collection/runs/${runId}`).then((r) => {
    if (stopped) return;
    show(first, r);
    askFigures(0);
    connect();
    tick();
  }).catch((e) => {
    if (e instanceof ApiError && e.status === 404) notFound(); else err.show(e);
  });
  return stop;
}
