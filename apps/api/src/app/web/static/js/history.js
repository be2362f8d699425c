// History: runs and manual seller changes in one timeline, newest first, each with its
// seller-count snapshot. Opening an entry shows "sellers at this point" and what it changed.

import { api } from "./api.js";
import { h, num, dateTime, errorBox, statusBadge, icon } from "./format.js";

const PAGE = 50;
const NAMES_PAGE = 200;
const RUN_STATUSES = new Set(["pending", "running", "paused", "completed", "failed", "cancelled"]);

function nameList(names, label) {
  const ul = h("ul", { class: "names", "aria-label": label });
  let shown = 0;
  const more = h("button", { type: "button", class: "ghost" });
  function page() {
    ul.append(...names.slice(shown, shown + NAMES_PAGE).map((n) => h("li", { text: n })));
    shown = Math.min(names.length, shown + NAMES_PAGE);
    more.hidden = shown >= names.length;
    more.textContent = `Show more (${num(names.length - shown)} left)`;
  }
  more.addEventListener("click", page);
  page();
  return h("div", {}, ul, more);
}

function detailView(data) {
  return h("div", { class: "entry-detail" },
    h("p", { class: "num", text: `${num(data.count)} sellers at this point · ${num(data.added.length)} added · ${num(data.removed.length)} removed` }),
    h("div", { class: "cols" },
      h("section", {}, h("h4", { text: "Added" }), data.added.length ? nameList(data.added, "Added") : h("p", { class: "muted", text: "None" })),
      h("section", {}, h("h4", { text: "Removed" }), data.removed.length ? nameList(data.removed, "Removed") : h("p", { class: "muted", text: "None" }))),
    h("details", {}, h("summary", { text: `Sellers at this point (${num(data.count)})` }), nameList(data.sellers, "Sellers at this point")));
}

function entryView(e) {
  const isRun = e.kind === "run";
  const slot = h("div", { class: "entry-slot" });
  const err = errorBox();
  const open = h("button", { type: "button", class: "ghost", "aria-expanded": "false" },
    `${num(e.seller_count_snapshot)} sellers at this point`);
  open.addEventListener("click", async () => {
    const expanded = open.getAttribute("aria-expanded") === "true";
    open.setAttribute("aria-expanded", String(!expanded));
    if (expanded) { slot.replaceChildren(); return; }
    err.clear();
    slot.replaceChildren(h("p", { class: "muted", text: "Loading…" }));
    try {
      slot.replaceChildren(detailView(await api(`/history/${e.id}/sellers`)));
    } catch (ex) {
      slot.replaceChildren();
      err.show(ex);
    }
  });
  const what = isRun
    ? h("span", {}, "Run ", h("a", { href: `/runs/${e.id}`, "data-nav": true, text: e.summary }), " · ", RUN_STATUSES.has(e.action) ? statusBadge(e.action) : e.action, ` · ${num(e.affected_count)} new sellers`)
    : h("span", {}, `${e.action.replaceAll("_", " ")}: `, h("strong", { text: e.summary }), e.affected_count > 1 ? ` (${num(e.affected_count)} sellers)` : "");
  return h("li", { class: `entry kind-${e.kind}`, dataset: { entryId: e.id, kind: e.kind, runId: isRun ? e.id : null, snapshot: e.seller_count_snapshot ?? "" } },
    h("span", { class: "entry-icon" }, icon(isRun ? "complete" : "pipeline")),
    h("div", { class: "entry-main" },
      h("div", { class: "row spread" }, what, h("time", { class: "muted num", datetime: e.at, text: dateTime(e.at) })),
      h("div", { class: "row" }, open), err.el, slot));
}

export function mount(view) {
  document.title = "History · SellerCollection";
  const err = errorBox();
  const list = h("ol", { class: "timeline", "aria-label": "History, newest first" });
  const more = h("button", { type: "button", class: "ghost", hidden: true, text: "Load more" });
  view.append(h("h1", { text: "History" }), err.el, h("section", { class: "panel" }, list, more));
  let offset = 0;
  let stopped = false;
  async function load() {
    try {
      const page = await api(`/history?limit=${PAGE}&offset=${offset}`);
      if (stopped) return;
      list.append(...page.entries.map(entryView));
      offset += page.entries.length;
      more.hidden = page.entries.length < PAGE;
      if (!list.childElementCount) list.replaceChildren(h("li", { class: "empty", text: "Nothing yet. Runs and seller changes appear here, newest first." }));
    } catch (e) {
      err.show(e);
    }
  }
  more.addEventListener("click", load);
  load();
  return () => { stopped = true; };
}
