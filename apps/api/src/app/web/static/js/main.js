// The app shell: who is signed in, which page the address shows, the top bar and the theme.
// Pages are modules exporting `mount(view, params, app)` which returns a cleanup function.

import { api, onSignedOut, signIn, signOut, ApiError } from "./api.js";
import { h, errorBox } from "./format.js";
import * as runsPage from "./runs.js";
import * as runPage from "./run_detail.js";
import * as historyPage from "./history.js";
import * as sellersPage from "./sellers.js";
import * as sellerPage from "./seller.js";
import * as schedulesPage from "./schedules.js";
import * as notificationsPage from "./notifications.js";

const view = document.getElementById("view");
const nav = document.getElementById("main-nav");
const signOutButton = document.getElementById("sign-out");
const orgName = document.getElementById("org-name");
const chip = document.getElementById("live-chip");

const ROUTES = [
  { page: "runs", re: /^\/$/, module: runsPage },
  { page: "runs", re: /^\/runs\/([^/]+)\/?$/, module: runPage },
  { page: "history", re: /^\/history\/?$/, module: historyPage },
  { page: "sellers", re: /^\/sellers\/?$/, module: sellersPage },
  { page: "sellers", re: /^\/sellers\/([^/]+)\/?$/, module: sellerPage },
  { page: "schedules", re: /^\/schedules\/?$/, module: schedulesPage },
  { page: "notifications", re: /^\/notifications\/?$/, module: notificationsPage },
];

const app = {
  me: null,
  navigate(path, { replace = false } = {}) {
    if (replace) history.replaceState(null, "", path); else history.pushState(null, "", path);
    render().then(() => view.focus({ preventScroll: true }));
    window.scrollTo(0, 0);
  },
  /** The live chip in the top bar: live / reconnecting (attempt n) / offline / ended. */
  setChip(state, text) {
    if (!state) { chip.hidden = true; return; }
    chip.hidden = false;
    chip.dataset.state = state;
    chip.textContent = text;
  },
  status(text) { document.getElementById("polite-status").textContent = text; },
};

let cleanup = null;

function signInForm(message) {
  const token = h("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true, spellcheck: "false" });
  const err = errorBox();
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h("form", { class: "panel signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title", text: "Sign in" }),
    h("p", { class: "muted", text: message || "Paste an API token (from `sellercollection create-token`). It is traded for a browser session; the token itself is not kept." }),
    h("label", { for: "token", text: "API token" }), token, err.el, h("div", { class: "row" }, button));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.clear();
    button.disabled = true;
    try {
      await signIn(token.value.trim());
      token.value = "";
      await render();
      view.focus(); // keyboard and screen-reader users continue at the page's content
    } catch (ex) {
      err.show(ex);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function showSignIn(message) {
  if (cleanup) { cleanup(); cleanup = null; }
  app.me = null;
  nav.hidden = true;
  signOutButton.hidden = true;
  orgName.textContent = "";
  app.setChip(null);
  document.title = "Sign in · SellerCollection";
  view.replaceChildren(signInForm(message));
  view.querySelector("#token").focus();
}

async function render() {
  if (cleanup) { cleanup(); cleanup = null; }
  if (!app.me) {
    try {
      app.me = await api("/auth/me");
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) { showSignIn(); return; }
      view.replaceChildren(h("p", { class: "error-text", role: "alert", text: err.detail || String(err) }));
      return;
    }
  }
  nav.hidden = false;
  signOutButton.hidden = false;
  orgName.textContent = app.me.org_name;
  const path = location.pathname;
  const route = ROUTES.find((r) => r.re.test(path));
  for (const a of nav.querySelectorAll("a")) {
    if (route && a.dataset.page === route.page) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  app.setChip(null);
  if (!route) {
    view.replaceChildren(h("section", { class: "panel" }, h("h1", { text: "Not found" }), h("p", { text: "There is no page at this address." })));
    return;
  }
  const params = path.match(route.re).slice(1).map(decodeURIComponent);
  view.replaceChildren();
  cleanup = route.module.mount(view, params, app) || null;
}

onSignedOut(() => {
  if (app.me) showSignIn("Your session has ended. Sign in again to continue.");
});

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-nav]");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  app.navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", render);

signOutButton.addEventListener("click", async () => {
  await signOut().catch(() => {});
  showSignIn("Signed out.");
});

// Theme: auto (follows the system) -> light -> dark, remembered in localStorage.
const themeButton = document.getElementById("theme-toggle");
function showTheme() { themeButton.textContent = `Theme: ${document.documentElement.dataset.theme || "auto"}`; }
themeButton.addEventListener("click", () => {
  const order = ["auto", "light", "dark"];
  const next = order[(order.indexOf(document.documentElement.dataset.theme || "auto") + 1) % order.length];
  if (next === "auto") { delete document.documentElement.dataset.theme; localStorage.removeItem("sc-theme"); }
  else { document.documentElement.dataset.theme = next; localStorage.setItem("sc-theme", next); }
  showTheme();
});
showTheme();

render();
