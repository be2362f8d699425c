// Sellers: search, the flagged filter, a keyset-paginated table (never reordered live), single
// and bulk changes, and export. Pages come from `next_cursor`; nothing is loaded twice.

import { api } from "./api.js";
import { h, num, dateTime, errorBox } from "./format.js";

const PAGE = 100;

export function mount(view) {
  document.title = "Sellers · SellerCollection";
  const err = errorBox();
  const search = h("input", { type: "search", id: "seller-search", placeholder: "Names starting with…", autocomplete: "off" });
  const flagged = h("select", { id: "seller-flagged" }, h("option", { value: "", text: "All" }), h("option", { value: "true", text: "Flagged" }), h("option", { value: "false", text: "Not flagged" }));
  const sort = h("select", { id: "seller-sort" }, h("option", { value: "newest", text: "Newest" }), h("option", { value: "oldest", text: "Oldest" }), h("option", { value: "name", text: "Name" }));
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

  view.append(
    h("h1", { text: "Sellers" }), err.el, addForm,
    h("section", { class: "panel" },
      h("div", { class: "row toolbar" },
        h("label", { for: "seller-search", text: "Search" }), search,
        h("label", { for: "seller-flagged", text: "Show" }), flagged,
        h("label", { for: "seller-sort", text: "Sort" }), sort, count, h("span", { class: "spacer" }), exports),
      h("div", { class: "row toolbar" }, selInfo, bulkFlag, bulkUnflag, bulkDelete),
      h("div", { class: "table-wrap" }, h("table", { class: "sellers" },
        h("thead", {}, h("tr", {}, h("th", {}, all), ...["Name", "Seen", "Flagged", "Added", ""].map((t) => h("th", { scope: "col", text: t })))),
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
    const name = h("td", { class: "seller-name", text: s.display_name });
    const rowErr = errorBox();
    const flag = h("button", { type: "button", class: "ghost", "aria-pressed": String(s.flagged), text: s.flagged ? "Flagged" : "Flag" });
    const rename = h("button", { type: "button", class: "ghost", text: "Rename" });
    const del = h("button", { type: "button", class: "ghost danger", text: "Delete" });
    const tr = h("tr", { dataset: { sellerId: s.id } }, h("td", {}, box), name, h("td", { class: "num", text: num(s.times_seen) }),
      h("td", {}, flag), h("td", { text: dateTime(s.created_at) }), h("td", {}, h("div", { class: "row" }, rename, del), rowErr.el));
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
      const cancel = () => name.replaceChildren(document.createTextNode(s.display_name));
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

  async function load(reset) {
    const mine = reset ? ++generation : generation;
    if (reset) cursor = null;
    const q = new URLSearchParams({ limit: String(PAGE), sort: sort.value });
    if (search.value.trim()) q.set("search", search.value.trim());
    if (flagged.value) q.set("flagged", flagged.value);
    if (cursor) q.set("cursor", cursor);
    err.clear();
    try {
      const page = await api(`/sellers?${q}`);
      if (mine !== generation) return; // a newer search replaced this one
      if (reset) { tbody.replaceChildren(); selected.clear(); }
      tbody.append(...page.sellers.map(row));
      if (!tbody.childElementCount) tbody.append(h("tr", {}, h("td", { colspan: "6", class: "empty", text: search.value ? "No seller name starts with that." : "No sellers yet. Run a collection or add names below." })));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      // The count follows the filters: "13 of 1,034" while a search or the flagged filter narrows the list.
      const filtered = Boolean(q.get("search") || q.get("flagged"));
      count.textContent = filtered ? `${num(page.total_matching)} of ${num(page.total_in_org)}` : `${num(page.total_in_org)} in the list`;
      count.dataset.matching = page.total_matching;
      syncSelection();
    } catch (e) { err.show(e); }
  }

  let debounce = null;
  search.addEventListener("input", () => { clearTimeout(debounce); debounce = setTimeout(() => load(true), 250); });
  flagged.addEventListener("change", () => load(true));
  sort.addEventListener("change", () => load(true));
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
