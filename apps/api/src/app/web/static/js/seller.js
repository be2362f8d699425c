// One seller: its profile figures, the reasons for its dropshipper score as sentences, and the
// evidence behind it: the eBay listings a run read, each beside the Amazon product whose search
// found it, a page at a time (keyset `next_cursor`). Another org's seller or an unknown id is
// "not found" (the API answers 404 for both, so nothing tells them apart).

import { api, ApiError } from "./api.js";
import { h, num, dateTime, errorBox, markup, percent, price, feedback, scoreBar } from "./format.js";
import { outLink } from "./links.js";

const PAGE = 50;
let categoryNames = null; // id -> name, from GET /amazon/categories, fetched once per page load

async function categoryName(ids) {
  if (!categoryNames) {
    categoryNames = new Map();
    try {
      const catalogue = await api("/amazon/categories");
      for (const d of catalogue.departments) for (const c of d.categories) categoryNames.set(c.id, c.name);
    } catch (e) { /* the ids themselves are readable enough */ }
  }
  return ids.map((id) => categoryNames.get(id) || id);
}

function notFound(view, id) {
  document.title = "Seller not found · SellerCollection";
  view.replaceChildren(h("section", { class: "panel not-found", dataset: { sellerId: id } },
    h("h1", { text: "Seller not found" }),
    h("p", { text: "There is no seller with this id in your org's list. It may have been deleted, or the address belongs to another org." }),
    h("p", {}, h("a", { href: "/sellers", "data-nav": true, text: "Back to the sellers" }))));
}

function figure(label, value, id) {
  return [h("dt", { text: label }), h("dd", { class: "num", dataset: id ? { figure: id } : {}, text: value })];
}

function figures(s, categories) {
  return h("dl", { class: "figures", "aria-label": "Profile" },
    figure("Products matched", num(s.products_matched), "products"),
    figure("Listings seen", num(s.listings_seen), "listings"),
    figure("Categories", categories.length ? `${num(categories.length)}: ${categories.join(", ")}` : "–", "categories"),
    figure("Median markup", markup(s.median_markup), "markup"),
    figure("Inside the price window", percent(s.markup_in_window), "in-window"),
    figure("Median title match", s.median_title_match === null ? "–" : Number(s.median_title_match).toFixed(2), "title-match"),
    figure("Feedback", feedback(s.feedback_score, s.feedback_percent), "feedback"),
    figure("Runs seen in", num(s.runs_seen), "runs"),
    figure("First listing seen", dateTime(s.evidence_first_seen_at), "first-seen"),
    figure("Last listing seen", dateTime(s.evidence_last_seen_at), "last-seen"),
    figure("Added to the list", dateTime(s.created_at), "added"));
}

/** The reasons as sentences, each with its points; they add up to the score (the API guarantees it). */
function reasons(s) {
  if (s.score === null) {
    return h("p", { class: "muted", text: "No score: this seller has no evidence (it was added by hand, or its listings are older than the retention period)." });
  }
  const rows = s.score_reasons.map((r) => {
    const suffix = ` (+${r.points})`;
    const sentence = r.text.endsWith(suffix) ? r.text.slice(0, -suffix.length) : r.text;
    return h("li", { class: `reason${r.points ? "" : " zero"}`, dataset: { signal: r.signal, points: r.points } },
      h("span", { class: "reason-text", text: sentence }), h("span", { class: "reason-points num", text: `+${r.points}` }));
  });
  return h("div", {},
    h("ol", { class: "reasons", "aria-label": "Reasons for the score" }, rows),
    h("p", { class: "reasons-total" }, h("span", { text: "Score" }), h("strong", { class: "num", text: String(s.score) })));
}

function listingRow(x) {
  const ebay = outLink(x.ebay_url, "eBay ↗", `Open the listing ${x.ebay_item_id} on eBay`);
  const amazon = outLink(x.amazon_url, "Amazon ↗", `Open ${x.amazon_asin} on Amazon`);
  const cell = (label, cls, ...children) => h("td", { class: cls, dataset: { label } }, ...children);
  return h("tr", { dataset: { ebayItemId: x.ebay_item_id, asin: x.amazon_asin } },
    cell("eBay listing", "listing", h("span", { class: "listing-title", text: x.ebay_title }),
      h("span", { class: "listing-meta muted" }, h("span", { class: "num", text: `#${x.ebay_item_id}` }), ebay)),
    cell("Price", "num", price(x.ebay_price, x.currency)),
    cell("Amazon product", "listing", h("span", { class: "listing-title", text: x.amazon_title }),
      h("span", { class: "listing-meta muted" }, h("span", { text: x.amazon_asin }), amazon)),
    cell("Amazon price", "num", price(x.amazon_price, "USD")),
    cell("Markup", "num", markup(x.markup), x.in_window === false ? h("span", { class: "muted", title: "Outside the price window searched", text: " (outside)" }) : null),
    cell("Title match", "num", x.title_match === null ? "–" : Number(x.title_match).toFixed(2)),
    cell("Last seen", "num", dateTime(x.last_seen_at)));
}

function listingsPanel(id, total) {
  const err = errorBox();
  const tbody = h("tbody");
  const more = h("button", { type: "button", class: "ghost", hidden: true, text: "Load more listings" });
  const shown = h("span", { class: "muted num", id: "listings-shown" });
  let cursor = null;
  async function load() {
    err.clear();
    more.disabled = true;
    try {
      const q = new URLSearchParams({ limit: String(PAGE) });
      if (cursor) q.set("cursor", cursor);
      const page = await api(`/sellers/${encodeURIComponent(id)}/listings?${q}`);
      tbody.append(...page.listings.map(listingRow));
      if (!tbody.childElementCount) tbody.append(h("tr", {}, h("td", { colspan: "7", class: "empty", text: "No listings kept for this seller." })));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      const rows = tbody.querySelectorAll("tr[data-ebay-item-id]").length;
      shown.textContent = total ? `${num(rows)} of ${num(total)} shown` : "";
    } catch (e) { err.show(e); } finally { more.disabled = false; }
  }
  more.addEventListener("click", load);
  const head = ["eBay listing", "Price", "Amazon product", "Amazon price", "Markup", "Title match", "Last seen"];
  const panel = h("section", { class: "panel", "aria-labelledby": "listings-title" },
    h("div", { class: "row spread" }, h("h2", { id: "listings-title", text: "Evidence: the listings" }), shown),
    h("p", { class: "muted small-note", text: "Each eBay listing a run read with this seller, beside the Amazon best seller whose search found it." }),
    err.el,
    h("div", { class: "table-wrap" }, h("table", { class: "listings" },
      h("thead", {}, h("tr", {}, head.map((t) => h("th", { scope: "col", text: t })))), tbody)),
    more);
  return { panel, load };
}

function header(s) {
  const profile = outLink(s.profile_url, "eBay profile ↗", `Open ${s.display_name}'s profile on eBay`);
  return h("header", { class: "seller-head" },
    h("p", { class: "crumb" }, h("a", { href: "/sellers", "data-nav": true, text: "← Sellers" })),
    h("div", { class: "row seller-title" }, h("h1", { text: s.display_name }), scoreBar(s.score),
      s.flagged ? h("span", { class: "tag", text: "Flagged" }) : null, profile),
    s.profile_stale ? h("p", { class: "muted", text: "New evidence arrived: the profile and score update within seconds (reload to see them)." }) : null);
}

export function mount(view, [id]) {
  document.title = "Seller · SellerCollection";
  let alive = true;
  const err = errorBox();
  view.append(h("p", { class: "muted", text: "Loading the seller…" }), err.el);
  (async () => {
    let s;
    try {
      s = await api(`/sellers/${encodeURIComponent(id)}`);
    } catch (e) {
      if (!alive) return;
      // 404: unknown, deleted or another org's; 422: not a seller id at all. Both: nothing to show.
      if (e instanceof ApiError && (e.status === 404 || e.status === 422)) notFound(view, id);
      else { view.firstChild.remove(); err.show(e); }
      return;
    }
    const categories = await categoryName(s.category_ids || []);
    if (!alive) return;
    document.title = `${s.display_name} · Sellers · SellerCollection`;
    const listings = listingsPanel(s.id, s.listings_seen);
    view.replaceChildren(header(s),
      h("div", { class: "seller-body" },
        h("section", { class: "panel", "aria-labelledby": "reasons-title" },
          h("h2", { id: "reasons-title", text: "Why this score" }),
          h("p", { class: "muted small-note", text: "How likely it is, from its public listings, that this seller resells Amazon products. A likelihood with its evidence below, not a verdict." }),
          reasons(s)),
        h("section", { class: "panel", "aria-labelledby": "profile-title" },
          h("h2", { id: "profile-title", text: "Profile" }), figures(s, categories))),
      listings.panel);
    await listings.load();
  })();
  return () => { alive = false; };
}
