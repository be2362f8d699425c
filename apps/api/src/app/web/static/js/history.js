// History: runs and manual seller changes in one timeline, newest first, each with its
// seller-count snapshot. Opening an entry shows "sellers at this point" and what it changed.

import { api } from "./api.js";
import { h, num, dateTime, errorBox, statusBadge, icon } from "./format.js";

const PAGE = 50;
const RUN_STATUSES = new Set(["pending", "running", "paused", "completed", "failed", "cancelled"]);

function nameList(names, label) {
  return h("ul", { class: "names", "aria-label": label }, names.map((n) => h("li", { text: n })));
}

/** A button that fetches the next page (keyset cursor) and appends it, until there is none. */
function pager(list, load, cursor, label) {
  const err = errorBox();
  // `cursor`: "" for the first page, a keyset cursor for the next, null when there is no more.
  const more = h("button", { type: "button", class: "ghost", text: label, hidden: cursor === null });
  more.addEventListener("click", async () => {
    err.clear();
    more.disabled = true;
    try {
      const page = await load(cursor);
      list.append(...page.items.map((n) => h("li", { text: n })));
      cursor = page.next || null;
      more.hidden = cursor === null;
      more.textContent = "Load more";
    } catch (e) { err.show(e); } finally { more.disabled = false; }
  });
  return h("div", {}, more, err.el);
}

const OP_WORD = { add: "added", remove: "removed", rename: "renamed" };

function detailView(entryId, data) {
  const addedCount = data.added_count ?? data.added.length;
  const removedCount = data.removed_count ?? data.removed.length;
  const sellers = nameList(data.sellers, "Sellers at this point");
  const loadSellers = async (cursor) => {
    const page = await api(`/history/${entryId}/sellers?cursor=${encodeURIComponent(cursor)}`);
    return { items: page.sellers, next: page.next_cursor };
  };
  const side = (title, names, total) => h("section", {}, h("h4", { text: `${title} (${num(total)})` }),
    names.length ? nameList(names, title) : h("p", { class: "muted", text: "None" }),
    total > names.length ? h("p", { class: "muted", text: `The first ${num(names.length)} shown; every change is listed below.` }) : null);
  let changes = null;
  if (addedCount > data.added.length || removedCount > data.removed.length) {
    const list = h("ul", { class: "names", "aria-label": "Every change" });
    const loadChanges = async (cursor) => {
      const page = await api(`/history/${entryId}/changes${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ""}`);
      return { items: page.changes.map((c) => `${OP_WORD[c.op] || c.op}: ${c.old_display_name ? `${c.old_display_name} → ` : ""}${c.display_name}`), next: page.next_cursor };
    };
    changes = h("details", {}, h("summary", { text: "Every change of this entry" }), list, pager(list, loadChanges, "", "Load changes"));
  }
  return h("div", { class: "entry-detail" },
    h("p", { class: "num", text: `${num(data.count)} sellers at this point · ${num(addedCount)} added · ${num(removedCount)} removed` }),
    h("div", { class: "cols" }, side("Added", data.added, addedCount), side("Removed", data.removed, removedCount)),
    changes,
    h("details", {}, h("summary", { text: `Sellers at this point (${num(data.count)})` }), sellers,
      pager(sellers, loadSellers, data.next_cursor || null, "Load more")));
}

function fireView(e) {
  return h("li", { class: "entry kind-schedule", dataset: { entryId: e.id, kind: e.kind, outcome: e.action } },
    h("span", { class: "entry-icon" }, icon(e.action === "missed" ? "gap" : "paused")),
    h("div", { class: "entry-main" },
      h("div", { class: "row spread" },
        h("span", {}, `Scheduled run ${e.action}: `, h("strong", { text: e.summary })),
        h("time", { class: "muted num", datetime: e.at, text: dateTime(e.at) }))));
}

function entryView(e) {
  if (e.kind === "schedule") return fireView(e);
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
      slot.replaceChildren(detailView(e.id, await api(`/history/${e.id}/sellers`)));
    } catch (ex) {
      slot.replaceChildren();
      err.show(ex);
    }
  });
  const what = isRun
    ? h("span", {}, e.trigger === "schedule" ? "Scheduled run " : "Run ", h("a", { href: `/runs/${e.id}`, "data-nav": true, text: e.summary }), " · ", RUN_STATUSES.has(e.action) ? statusBadge(e.action) : e.action, ` · ${num(e.affected_count)} new sellers`)
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
