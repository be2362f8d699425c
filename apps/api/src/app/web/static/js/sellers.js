// Sellers: search, the flagged and minimum-score filters, a keyset-paginated table (never
// reordered live) with each seller's dropshipper score, single and bulk changes, and export.
// Pages come from `next_cursor`; nothing is loaded twice. A row opens the seller's page.

import { api } from "./api.js";
import { h, num, dateTime, errorBox, markup, feedback, scoreBar } from "./format.js";

const PAGE = 100;

export function mount(view) {
  document.title = "Sellers · SellerCollection";
  const err = errorBox();
  const search = h("input", { type: "search", id: "seller-search", placeholder: "Names starting with…", autocomplete: "off" });
  const flagged = h("select", { id: "seller-flagged" }, h("option", { value: "", text: "All" }), h("option", { value: "true", text: "Flagged" }), h("option", { value: "false", text: "Not flagged" }));
  const sort = h("select", { id: "seller-sort" }, h("option", { value: "newest", text: "Newest" }), h("option", { value: "oldest", text: "Oldest" }), h("option", { value: "name", text: "Name" }), h("option", { value: "score", text: "Score (highest first)" }));
  const minScore = h("input", { type: "number", id: "seller-min-score", min: "0", max: "100", step: "1", inputmode: "numeric", placeholder: "0–100", class: "min-score" });
  const count = h("span", { id: "seller-count", class: "muted num", "aria-live": "polite" });
  const tbody = h("tbody");
  const all = h("input", { type: "checkbox", "aria-label": "Select all shown" });
  const more = h("button", { type: "button", class: "ghost", hidden: true, text: "Load more" });
  const selInfo = h("span", { class: "muted num" });
  const bulkDelete = h("button", { type: "button", class: "ghost", disabled: true, text: "Delete selected" });
  const bulkFlag = h("button", { type: "button", class: "ghost", disabled: true, text: "Flag selected" });
  const bulkUnflag = h("button", { type: "button", class: "ghost", disabled: true, text: "Unflag selected" });
  const addBox = h("textarea", { id: "seller-add", rows: "3", placeholder: "One seller name per line" });
  const addBtn = h("button", { type: "submit", class: "primary", text: "Add sellers" });
  const addErr = errorBox();
  const addResult = h("p", { class: "muted", "aria-live": "polite" });
  const exportLink = (fmt, label) => h("a", { class: "button ghost", href: `/sellers/export?format=${fmt}`, download: "", dataset: { format: fmt }, text: label });
  const exports = h("span", { class: "row exports" }, h("span", { class: "muted", text: "Export:" }), exportLink("csv", "CSV"), exportLink("json", "JSON"), exportLink("text", "Text"));
  const addForm = h("form", { class: "panel add-sellers", "aria-labelledby": "add-title" },
    h("h2", { id: "add-title", text: "Add sellers" }), h("label", { for: "seller-add", class: "sr-only", text: "Seller names, one per line" }), addBox, addErr.el,
    h("div", { class: "row" }, addBtn, addResult));

  // The Score heading sorts by score (the API's sort=score: highest first, sellers without a score last).
  const scoreSort = h("button", { type: "button", class: "th-sort", id: "sort-by-score", title: "Sort by score, highest first", text: "Score" });

  view.append(
    h("h1", { text: "Sellers" }), err.el, addForm,
    h("section", { class: "panel" },
      h("div", { class: "row toolbar" },
        // Each label stays with its control when the toolbar wraps (a phone).
        h("span", { class: "field" }, h("label", { for: "seller-search", text: "Search" }), search),
        h("span", { class: "field" }, h("label", { for: "seller-flagged", text: "Show" }), flagged),
        h("span", { class: "field" }, h("label", { for: "seller-sort", text: "Sort" }), sort),
        h("span", { class: "field" }, h("label", { for: "seller-min-score", text: "Min score" }), minScore), count, h("span", { class: "spacer" }), exports),
      h("div", { class: "row toolbar" }, selInfo, bulkFlag, bulkUnflag, bulkDelete),
      h("div", { class: "table-wrap" }, h("table", { class: "sellers" },
        h("thead", {}, h("tr", {}, h("th", {}, all), h("th", { scope: "col", text: "Name" }), h("th", { scope: "col", class: "score-col" }, scoreSort),
          ...[["Products", "num", "Distinct Amazon best sellers its listings matched"], ["Markup", "num", "Median of eBay price / Amazon price"],
            ["Feedback", "num", "eBay feedback count and positive percentage"], ["Seen", "num", "Times a product search found it"], ["Flagged"], ["Added"], [""]]
            .map(([t, cls, title]) => h("th", { scope: "col", class: cls, title, text: t })))),
        tbody)),
      more));

  let cursor = null;
  let generation = 0;
  const selected = new Set();

  function syncSelection() {
    selInfo.textContent = `${num(selected.size)} selected`;
    for (const b of [bulkDelete, bulkFlag, bulkUnflag]) b.disabled = selected.size === 0;
    const boxes = [...tbody.querySelectorAll("input[type=checkbox]")];
    all.checked = boxes.length > 0 && boxes.every((b) => b.checked);
  }

  function row(s) {
    const box = h("input", { type: "checkbox", "aria-label": `Select ${s.display_name}` });
    box.checked = selected.has(s.id);
    box.addEventListener("change", () => { if (box.checked) selected.add(s.id); else selected.delete(s.id); syncSelection(); });
    const link = () => h("a", { href: `/sellers/${encodeURIComponent(s.id)}`, "data-nav": true, class: "seller-link", text: s.display_name });
    const name = h("td", { class: "seller-name" }, link());
    const rowErr = errorBox();
    const flag = h("button", { type: "button", class: "ghost", "aria-pressed": String(s.flagged), text: s.flagged ? "Flagged" : "Flag" });
    const rename = h("button", { type: "button", class: "ghost", text: "Rename" });
    const del = h("button", { type: "button", class: "ghost danger", text: "Delete" });
    const tr = h("tr", { class: "seller-row", dataset: { sellerId: s.id } }, h("td", {}, box), name, h("td", { class: "score-col" }, scoreBar(s.score)),
      // data-label: on a phone each row is a card, and each figure shows under its column's name.
      h("td", { class: "num", dataset: { label: "Products" }, text: num(s.products_matched) }),
      h("td", { class: "num", dataset: { label: "Markup" }, text: markup(s.median_markup) }),
      h("td", { class: "num", dataset: { label: "Feedback" }, text: feedback(s.feedback_score, s.feedback_percent) }),
      h("td", { class: "num", dataset: { label: "Seen" }, text: num(s.times_seen) }),
      h("td", {}, flag), h("td", { dataset: { label: "Added" }, text: dateTime(s.created_at) }),
      h("td", {}, h("div", { class: "row" }, rename, del), rowErr.el));
    flag.addEventListener("click", async () => {
      rowErr.clear();
      try {
        await api("/sellers/flag", { method: "POST", body: { ids: [s.id], flagged: !s.flagged } });
        s.flagged = !s.flagged;
        flag.setAttribute("aria-pressed", String(s.flagged));
        flag.textContent = s.flagged ? "Flagged" : "Flag";
      } catch (e) { rowErr.show(e); }
    });
    rename.addEventListener("click", () => {
      const input = h("input", { value: s.display_name, "aria-label": `New name for ${s.display_name}` });
      const form = h("form", { class: "row" }, input, h("button", { type: "submit", class: "primary", text: "Save" }));
      const cancel = () => name.replaceChildren(link());
      input.addEventListener("keydown", (e) => { if (e.key === "Escape") cancel(); });
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        rowErr.clear();
        try {
          const updated = await api(`/sellers/${s.id}`, { method: "PATCH", body: { name: input.value } });
          s.display_name = updated.display_name;
          cancel();
        } catch (ex) { rowErr.show(ex); }
      });
      name.replaceChildren(form);
      input.focus();
    });
    del.addEventListener("click", async () => {
      if (!window.confirm(`Delete ${s.display_name}?`)) return;
      rowErr.clear();
      try {
        await api(`/sellers/${s.id}`, { method: "DELETE" });
        selected.delete(s.id);
        tr.remove();
        syncSelection();
      } catch (e) { rowErr.show(e); }
    });
    return tr;
  }

  function emptyText(q) {
    if (q.get("search")) return "No seller name starts with that.";
    if (q.has("min_score")) return `No seller scores ${q.get("min_score")} or more.`;
    if (q.get("flagged")) return "No seller matches that filter.";
    return "No sellers yet. Run a collection or add names below.";
  }

  async function load(reset) {
    const mine = reset ? ++generation : generation;
    if (reset) cursor = null;
    const q = new URLSearchParams({ limit: String(PAGE), sort: sort.value });
    if (search.value.trim()) q.set("search", search.value.trim());
    if (flagged.value) q.set("flagged", flagged.value);
    if (minScore.value !== "") {
      const n = Number(minScore.value);
      if (!Number.isInteger(n) || n < 0 || n > 100) { err.show("Min score is a whole number from 0 to 100."); return; }
      q.set("min_score", String(n));
    }
    if (cursor) q.set("cursor", cursor);
    err.clear();
    try {
      const page = await api(`/sellers?${q}`);
      if (mine !== generation) return; // a newer search replaced this one
      if (reset) { tbody.replaceChildren(); selected.clear(); }
      tbody.append(...page.sellers.map(row));
      if (!tbody.childElementCount) tbody.append(h("tr", {}, h("td", { colspan: "10", class: "empty", text: emptyText(q) })));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      // The count follows the filters: "13 of 1,034" while a search or the flagged filter narrows the list.
      const filtered = Boolean(q.get("search") || q.get("flagged") || q.has("min_score"));
      count.textContent = filtered ? `${num(page.total_matching)} of ${num(page.total_in_org)}` : `${num(page.total_in_org)} in the list`;
      count.dataset.matching = page.total_matching;
      syncSelection();
    } catch (e) { err.show(e); }
  }

  let debounce = null;
  search.addEventListener("input", () => { clearTimeout(debounce); debounce = setTimeout(() => load(true), 250); });
  flagged.addEventListener("change", () => load(true));
  sort.addEventListener("change", () => load(true));
  scoreSort.addEventListener("click", () => { sort.value = "score"; load(true); });
  minScore.addEventListener("input", () => { clearTimeout(debounce); debounce = setTimeout(() => load(true), 250); });
  // A click anywhere on a row (not on its controls) opens the seller, like its name's link.
  tbody.addEventListener("click", (e) => {
    const tr = e.target.closest("tr[data-seller-id]");
    if (!tr || e.target.closest("a, button, input, textarea, select, label, form")) return;
    if (window.getSelection && String(window.getSelection())) return; // selecting text, not opening
    tr.querySelector("a.seller-link")?.click();
  });
  more.addEventListener("click", () => load(false));
  all.addEventListener("change", () => {
    for (const tr of tbody.querySelectorAll("tr[data-seller-id]")) {
      const box = tr.querySelector("input[type=checkbox]");
      box.checked = all.checked;
      if (all.checked) selected.add(tr.dataset.sellerId); else selected.delete(tr.dataset.sellerId);
    }
    syncSelection();
  });
  async function bulk(path, body, confirmText) {
    if (confirmText && !window.confirm(confirmText)) return;
    try {
      await api(path, { method: "POST", body: { ids: [...selected], ...body } });
      await load(true);
    } catch (e) { err.show(e); }
  }
  bulkDelete.addEventListener("click", () => bulk("/sellers/bulk-delete", {}, `Delete ${selected.size} sellers?`));
  bulkFlag.addEventListener("click", () => bulk("/sellers/flag", { flagged: true }));
  bulkUnflag.addEventListener("click", () => bulk("/sellers/flag", { flagged: false }));
  addForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    addErr.clear();
    const names = addBox.value.split(/\r?\n/).map((n) => n.trim()).filter(Boolean);
    if (!names.length) { addErr.show("Paste or type at least one name."); return; }
    addBtn.disabled = true;
    try {
      const res = await api("/sellers/bulk", { method: "POST", body: { names } });
      addResult.textContent = `Added ${num(res.added.length)}${res.skipped.length ? `, skipped ${num(res.skipped.length)} (${res.skipped.slice(0, 3).map((s) => `${s.name}: ${s.reason}`).join("; ")}${res.skipped.length > 3 ? "; …" : ""})` : ""}.`;
      addBox.value = "";
      await load(true);
    } catch (ex) { addErr.show(ex); } finally { addBtn.disabled = false; }
  });
  load(true);
  return () => { generation += 1; clearTimeout(debounce); };
}
