// One run's progress card: phase, categories and products done of total, sellers found and new,
// the rate-limit countdown, and the run controls. Used on the runs list for every open run.

import { api } from "./api.js";
import { h, num, usd, statusBadge, errorBox, OPEN_STATUSES } from "./format.js";

export const PHASE_WORD = { amazon: "Amazon", ebay: "eBay", done: "done" };

export function percent(run) {
  if (run.status === "completed") return 100;
  const cat = run.categories_total ? run.categories_completed / run.categories_total : 0;
  const prod = run.products_total ? run.products_searched / run.products_total : 0;
  // The Amazon phase is a small share of a run's work; the eBay phase is the rest.
  return Math.round(100 * (run.phase === "amazon" ? 0.1 * cat : 0.1 + 0.9 * prod));
}

export function bar(label, done, total) {
  const pct = total ? Math.min(100, Math.round((100 * done) / total)) : 0;
  return h("div", { class: "bar-row" },
    h("span", { class: "bar-label", text: label }),
    h("progress", { max: total || 1, value: done, "aria-label": label }),
    h("span", { class: "bar-num num", text: `${num(done)} / ${num(total)} (${pct}%)` }));
}

/**
 * Pause / Resume / Cancel buttons; cancel asks first. `after(run, ticket)` gets the updated run and
 * what `ticket()` returned as the request was made (the run page orders the answers it shows by it).
 */
export function controls(runId, after, { ticket = () => 0 } = {}) {
  const err = errorBox();
  const make = (action, label) => h("button", { type: "button", class: "ghost", dataset: { action } }, label);
  const pause = make("pause", "Pause");
  const resume = make("resume", "Resume");
  const cancel = make("cancel", "Cancel");
  const box = h("div", { class: "controls" }, pause, resume, cancel, err.el);
  async function act(action) {
    if (action === "cancel" && !window.confirm("Cancel this run? Finished work is kept; the rest is not done.")) return;
    err.clear();
    // Act on the click at once: the buttons say what is happening until the API answers.
    box.dataset.pending = action;
    const buttons = [pause, resume, cancel];
    const was = buttons.map((b) => b.disabled);
    buttons.forEach((b) => { b.disabled = true; });
    const label = { pause: "Pausing…", resume: "Resuming…", cancel: "Cancelling…" }[action];
    const clicked = buttons.find((b) => b.dataset.action === action);
    clicked.textContent = label;
    try {
      const asked = ticket();
      const run = await api(`/collection/runs/${runId}/${action}`, { method: "POST" });
      update(run.status);
      after(run, asked);
    } catch (e) {
      err.show(e);
      buttons.forEach((b, i) => { b.disabled = was[i]; });
    } finally {
      clicked.textContent = { pause: "Pause", resume: "Resume", cancel: "Cancel" }[action];
      delete box.dataset.pending;
    }
  }
  for (const b of [pause, resume, cancel]) b.addEventListener("click", () => act(b.dataset.action));
  function update(status) {
    pause.disabled = status !== "running";
    resume.disabled = status !== "paused";
    cancel.disabled = !OPEN_STATUSES.has(status);
  }
  return { el: box, update };
}

/** A progress card updated in place (its controls are never rebuilt while the list refreshes). */
export function progressCard(run, onChange, onOpen) {
  const ctl = controls(run.id, onChange);
  const title = h("a", { href: `/runs/${run.id}`, "data-nav": true, class: "run-title" });
  const badgeSlot = h("span");
  const phase = h("span");
  const pct = h("span", { class: "num" });
  const sellers = h("span", { class: "num" });
  const bars = h("div");
  const wait = h("p", { class: "wait", hidden: true });
  const card = h("article", { class: "panel progress-card", dataset: { runId: run.id } },
    h("div", { class: "row spread" }, h("h3", {}, title), badgeSlot),
    h("div", { class: "facts" }, phase, pct, sellers), bars, wait, ctl.el);
  card.addEventListener("click", (e) => {
    if (e.target.closest("button, a")) return;
    onOpen(run);
  });
  function update(next) {
    run = next;
    card.dataset.status = run.status;
    title.textContent = run.name;
    if (badgeSlot.dataset.status !== run.status) { badgeSlot.replaceChildren(statusBadge(run.status)); badgeSlot.dataset.status = run.status; }
    phase.textContent = `Phase: ${PHASE_WORD[run.phase] || run.phase}`;
    pct.textContent = `${percent(run)}%`;
    sellers.textContent = `${num(run.sellers_found)} sellers found, ${num(run.sellers_new)} new · ${num(run.requests_total)} requests, ${usd(run.upstream_cost)}`;
    bars.replaceChildren(bar("Categories", run.categories_completed, run.categories_total), bar("Products", run.products_searched, run.products_total));
    if (!card.querySelector(".controls[data-pending]")) ctl.update(run.status);
  }
  update(run);
  return { el: card, update };
}
