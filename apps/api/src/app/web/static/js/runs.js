// The runs page: a new-run form (categories grouped by department), open runs as progress cards
// polled every few seconds while the tab is visible, and the finished runs table.

import { api } from "./api.js";
import { h, num, usd, statusBadge, errorBox, dateTime, duration, activeMs, coverage, coverageDetail, OPEN_STATUSES } from "./format.js";
import { progressCard } from "./progress.js";

const POLL_MS = 3000;
const IDLE_POLL_MS = 10000;
// The estimate follows the form once it has been still this long (not on every click).
const ESTIMATE_DEBOUNCE_MS = 300;

/** "Estimate: about 104 products, 26 to search (78 searched within the last 7 days) · about 55 requests (29–81) · about $0.08". */
export function estimateText(e) {
  const r = e.requests_expected, c = e.cost_expected;
  const remembered = e.products_expected - e.products_to_search;
  const left = remembered > 0 ? ` (${num(remembered)} searched within the last ${e.refresh_after_days === 1 ? "day" : `${num(e.refresh_after_days)} days`})` : "";
  const guessed = e.categories - e.categories_fetched;
  const lists = guessed ? ` · ${num(guessed)} of ${num(e.categories)} lists not fetched before: guessed` : "";
  return `Estimate: about ${num(e.products_expected)} products, ${num(e.products_to_search)} to search${left} · about ${num(r.likely)} requests (${num(r.low)}–${num(r.high)}) · about ${usd(c.likely)}${lists}`;
}

function newRunForm(catalogue, presets, app) {
  const err = errorBox();
  const name = h("input", { id: "run-name", name: "name", maxlength: "200", placeholder: "e.g. Kitchen test" });
  const preset = h("select", { id: "run-preset", name: "preset" }, h("option", { value: "", text: "Choose categories below" }),
    presets.map((p) => h("option", { value: p.id, text: p.is_builtin ? p.name : `${p.name} (yours)` })));
  const presetIds = new Map(presets.map((p) => [p.id, p.category_ids]));
  const presetRefresh = new Map(presets.map((p) => [p.id, p.refresh]));
  const refresh = h("select", { id: "run-refresh", name: "refresh" },
    h("option", { value: "new", text: "Only products not searched recently (new)" }),
    h("option", { value: "all", text: "Every product again (all)" }));
  const estimate = h("p", { class: "estimate muted num", id: "run-estimate", "aria-live": "polite" });
  const all = h("input", { type: "checkbox", id: "cat-all" });
  const count = h("span", { class: "muted num", "aria-live": "polite" });
  const groups = catalogue.departments.map((dep) => {
    const depBox = h("input", { type: "checkbox", id: `dep-${dep.id}`, dataset: { department: dep.id } });
    const cats = dep.categories.map((c) => h("label", { class: "check" },
      h("input", { type: "checkbox", name: "category", value: c.id, dataset: { department: dep.id } }), c.name));
    return h("fieldset", { class: "dept" },
      h("legend", {}, h("label", { class: "check" }, depBox, dep.name)), h("div", { class: "cats" }, cats));
  });
  const button = h("button", { type: "submit", class: "primary" }, "Start run");
  const form = h("form", { class: "panel new-run", "aria-labelledby": "new-run-title" },
    h("h2", { id: "new-run-title", text: "New run" }),
    h("div", { class: "row" }, h("label", { for: "run-name", text: "Name (optional)" }), name),
    h("div", { class: "row" }, h("label", { for: "run-preset", text: "Preset" }), preset),
    h("div", { class: "row" }, h("label", { for: "run-refresh", text: "Search" }), refresh),
    h("div", { class: "row" }, h("label", { class: "check" }, all, "Select all categories"), count),
    h("div", { class: "depts" }, groups),
    err.el,
    estimate,
    h("div", { class: "row" }, button));
  const boxes = () => [...form.querySelectorAll('input[name="category"]')];
  function sync() {
    const chosen = boxes().filter((b) => b.checked);
    count.textContent = `${chosen.length} selected`;
    for (const dep of form.querySelectorAll("input[data-department]:not([name])")) {
      const mine = boxes().filter((b) => b.dataset.department === dep.dataset.department);
      const n = mine.filter((b) => b.checked).length;
      dep.checked = n === mine.length;
      dep.indeterminate = n > 0 && n < mine.length;
    }
    all.checked = chosen.length === boxes().length;
    all.indeterminate = chosen.length > 0 && !all.checked;
    scheduleEstimate();
  }
  // What the run would search and cost, fetched once the form has been still for a moment; only the
  // answer to the latest form counts.
  const body = () => {
    const ids = boxes().filter((b) => b.checked).map((b) => b.value);
    if (!ids.length) return null;
    const target = preset.value ? { preset_id: preset.value } : { category_ids: ids };
    return { name: name.value.trim() || null, refresh: refresh.value, ...target };
  };
  let timer = null, asked = 0;
  function scheduleEstimate() {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const wanted = body(), ticket = ++asked;
      if (!wanted) { estimate.textContent = ""; return; }
      estimate.textContent = "Estimating…";
      try {
        const answer = await api("/collection/runs/estimate", { method: "POST", body: wanted });
        if (ticket === asked) estimate.textContent = estimateText(answer);
      } catch (ex) {
        if (ticket === asked) estimate.textContent = `No estimate: ${ex.message || ex}`;
      }
    }, ESTIMATE_DEBOUNCE_MS);
  }
  form.addEventListener("change", (e) => {
    const t = e.target;
    if (t === refresh) { scheduleEstimate(); return; }
    if (t === preset) {
      const chosen = new Set(presetIds.get(preset.value) || []);
      if (preset.value) boxes().forEach((b) => { b.checked = chosen.has(b.value); });
      if (preset.value) refresh.value = presetRefresh.get(preset.value) || "new";
      sync();
      return;
    }
    if (t.name === "category" || t.dataset.department || t === all) preset.value = "";  // a hand-made selection
    if (t === all) boxes().forEach((b) => { b.checked = all.checked; });
    else if (t.dataset.department && !t.name) boxes().filter((b) => b.dataset.department === t.dataset.department).forEach((b) => { b.checked = t.checked; });
    sync();
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.clear();
    const ids = boxes().filter((b) => b.checked).map((b) => b.value);
    if (!ids.length) { err.show("Pick at least one category."); return; }
    button.disabled = true;
    try {
      // A run made from a preset records it; a hand-made selection sends its ids.
      const run = await api("/collection/runs", { method: "POST", body: body() });
      await api(`/collection/runs/${run.id}/start`, { method: "POST" });
      app.navigate(`/runs/${run.id}`);
    } catch (ex) {
      err.show(ex);
    } finally {
      button.disabled = false;
    }
  });
  sync();
  return form;
}

function runsTable(runs) {
  if (!runs.length) return h("p", { class: "empty", text: "No finished runs yet. Pick categories and start one." });
  const head = ["Name", "Status", "Started", "Active time", "Categories", "Products", "Sellers found / new", "Requests", "Cost", "Seller lines", "Snapshot"];
  return h("div", { class: "table-wrap" }, h("table", { class: "runs" },
    h("thead", {}, h("tr", {}, head.map((t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, runs.map((r) => h("tr", { dataset: { runId: r.id, status: r.status } },
      h("td", {}, h("a", { href: `/runs/${r.id}`, "data-nav": true, text: r.name }),
        r.trigger === "schedule" ? h("span", { class: "tag", title: "Started by a schedule", text: "scheduled" }) : null),
      h("td", {}, statusBadge(r.status)),
      h("td", { text: dateTime(r.started_at || r.created_at) }),
      h("td", { class: "num", text: duration(activeMs(r)), title: r.paused_seconds >= 1 ? `and ${duration(r.paused_seconds * 1000)} paused` : null }),
      h("td", { class: "num", text: `${num(r.categories_completed)} / ${num(r.categories_total)}` }),
      h("td", { class: "num", text: `${num(r.products_searched)} / ${num(r.products_total)}` }),
      h("td", { class: "num", text: `${num(r.sellers_found)} / ${num(r.sellers_new)}` }),
      h("td", { class: "num", dataset: { col: "requests" }, text: num(r.requests_total) }),
      h("td", { class: "num", dataset: { col: "cost" }, text: usd(r.upstream_cost) }),
      h("td", { class: "num", dataset: { col: "seller_coverage" }, text: coverage(r), title: coverageDetail(r) }),
      h("td", { class: "num", text: num(r.seller_count_snapshot) }))))));
}

export function mount(view, _params, app) {
  document.title = "Runs · SellerCollection";
  const err = errorBox();
  const openBox = h("section", { class: "open-runs", "aria-label": "Open runs" });
  const finishedBox = h("section", { class: "panel", "aria-labelledby": "finished-title" }, h("h2", { id: "finished-title", text: "Runs" }));
  const formSlot = h("div");
  const details = h("details", { class: "new-run-wrap" }, h("summary", { text: "New run" }), formSlot);
  view.append(h("h1", { text: "Runs" }), err.el, details, openBox, finishedBox);
  let timer = null;
  let stopped = false;
  const cards = new Map();

  Promise.all([api("/amazon/categories"), api("/amazon/presets")])
    .then(([cat, { presets }]) => formSlot.replaceChildren(newRunForm(cat, presets, app)))
    .catch((e) => err.show(e));

  async function refresh() {
    timer = null;
    try {
      const list = await api("/collection/runs?limit=100");
      if (stopped) return;
      const open = list.runs.filter((r) => OPEN_STATUSES.has(r.status));
      details.open = open.length === 0 || details.dataset.userOpened === "1";
      const keep = new Set(open.map((r) => r.id));
      for (const [id, card] of cards) if (!keep.has(id)) { card.el.remove(); cards.delete(id); }
      for (const r of open) {
        let card = cards.get(r.id);
        if (!card) {
          card = progressCard(r, () => { if (!timer) refresh(); }, (run) => app.navigate(`/runs/${run.id}`));
          cards.set(r.id, card);
          openBox.append(card.el);
        } else card.update(r);
      }
      finishedBox.replaceChildren(finishedBox.firstChild, runsTable(list.runs.filter((r) => !OPEN_STATUSES.has(r.status))));
      // Keep looking while nothing is open too: schedules and other tabs start runs.
      if (!document.hidden) timer = setTimeout(refresh, open.length ? POLL_MS : IDLE_POLL_MS);
    } catch (e) {
      err.show(e);
    }
  }
  details.querySelector("summary").addEventListener("click", () => { details.dataset.userOpened = details.open ? "0" : "1"; });
  const onVisible = () => { if (!document.hidden && !timer && !stopped) refresh(); };
  document.addEventListener("visibilitychange", onVisible);
  refresh();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisible);
  };
}
