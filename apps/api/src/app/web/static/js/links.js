// Links built from upstream data (an eBay listing, an Amazon product, a seller's eBay profile):
// only an https link to the marketplaces' own sites ever becomes an `href`. Anything else
// (`javascript:...`, `http://...`, `https://ebay.com.evil.example/`) is shown as plain text.
//
// The same rule as the server's (app/scrapers/links.py, which the API applies before answering):
// https, the bare site, its www. or its m. (mobile), no credentials or port, a path without white space, control
// characters or backslashes. The server already drops anything else; this is the page's own check,
// so no code path can turn upstream text into a link by mistake. A browser test checks both agree.

const EBAY_TLDS = ["com", "co.uk", "de", "ca", "com.au", "fr", "it", "es", "at", "ch", "ie", "nl", "be", "pl", "ph",
  "com.hk", "com.sg", "com.my", "in"];
const AMAZON_TLDS = ["com", "co.uk", "de", "ca", "com.au", "fr", "it", "es", "nl", "pl", "se", "sg", "in", "co.jp",
  "com.mx", "com.br", "ae", "sa", "com.tr", "com.be"];
export const MARKETPLACE_SITES = [...EBAY_TLDS.map((t) => `ebay.${t}`), ...AMAZON_TLDS.map((t) => `amazon.${t}`)];
const MAX_URL_LENGTH = 2048;

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const SAFE = new RegExp(`^https://(www\\.|m\\.)?(${MARKETPLACE_SITES.map(escape).join("|")})(/[^\\x00-\\x20\\x7f\\\\]*)?$`);

/** `value` if it is an https URL on eBay's or Amazon's own sites, else null. */
export function marketplaceUrl(value) {
  return typeof value === "string" && value.length <= MAX_URL_LENGTH && SAFE.test(value) ? value : null;
}

/**
 * A link that opens `url` in a new tab if `url` passes `marketplaceUrl`; otherwise `url` itself as
 * plain text (never an href), marked so a reader sees it was not trusted. Null when there is no url.
 */
export function outLink(url, text, label) {
  const doc = document;
  const safe = marketplaceUrl(url);
  if (safe) {
    const a = doc.createElement("a");
    a.href = safe;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    a.textContent = text;
    if (label) a.setAttribute("aria-label", label);
    return a;
  }
  if (url === null || url === undefined || url === "") return null;
  const span = doc.createElement("span");
  span.className = "untrusted-link";
  span.title = "Not a link: this address is not on eBay's or Amazon's own sites";
  span.textContent = String(url);
  return span;
}
