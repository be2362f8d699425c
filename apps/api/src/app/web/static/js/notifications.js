// Notifications: the org's webhooks and e-mail recipients with their state, forms to add them (a new
// webhook's secret is shown once), "Send test", and the recent deliveries with "Load more".

import { api } from "./api.js";
import { h, num, duration, errorBox } from "./format.js";

const EVENTS = [
  ["run.completed", "Run completed"], ["run.paused", "Run paused"], ["run.failed", "Run failed"],
  ["run.cancelled", "Run cancelled"], ["schedule.skipped", "Schedule skipped"], ["schedule.missed", "Schedule missed"],
];
const DEFAULT_EVENTS = new Set(["run.completed", "run.paused", "run.failed", "schedule.skipped", "schedule.missed"]);
const LABEL = Object.fromEntries([...EVENTS, ["ping", "Test"]]);
const PAGE = 25;

const stamp = new Intl.DateTimeFormat("en-GB", { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
const when = (iso) => (iso ? stamp.format(new Date(iso)) : "–");

function eventChecks(idPrefix) {
  const boxes = EVENTS.map(([value, label]) => {
    const box = h("input", { type: "checkbox", id: `${idPrefix}-${value}`, value, checked: DEFAULT_EVENTS.has(value) });
    return { box, el: h("label", { class: "check", for: box.id }, box, label) };
  });
  const fieldset = h("fieldset", { class: "events" }, h("legend", { text: "Events" }), boxes.map((b) => b.el));
  return { el: fieldset, chosen: () => boxes.filter((b) => b.box.checked).map((b) => b.box.value) };
}

function eventWords(events) {
  if (events.length === EVENTS.length) return "All events";
  return EVENTS.filter(([value]) => events.includes(value)).map(([, label]) => label).join(", ");
}

/** The state of a subscription in words, coloured like the run statuses (never by colour alone). */
function stateBadge(s) {
  if (!s.enabled) return h("span", { class: "status status-failed", dataset: { state: "disabled" }, text: "Disabled" });
  if (s.failing_since) return h("span", { class: "status status-paused", dataset: { state: "failing" }, text: `Failing since ${when(s.failing_since)}` });
  return h("span", { class: "status status-completed", dataset: { state: "enabled" }, text: "Enabled" });
}

function subscriptionRow(s, path, { onChanged, onTested }) {
  const err = errorBox();
  const note = h("p", { class: "muted", "aria-live": "polite" });
  const button = (action, text) => h("button", { type: "button", class: "ghost", dataset: { action }, text });
  const test = button("test", "Send test");
  const toggle = button("toggle", s.enabled ? "Disable" : "Enable");
  const remove = button("delete", "Delete");
  async function act(control, call, after) {
    err.clear();
    control.disabled = true;
    try { after(await call()); } catch (ex) { err.show(ex); } finally { control.disabled = false; }
  }
  test.addEventListener("click", () => act(test, () => api(`${path}/${s.id}/test`, { method: "POST" }), (sent) => {
    note.textContent = "Test sent; it appears in Recent deliveries below.";
    onTested(sent.event_id);
  }));
  toggle.addEventListener("click", () => act(toggle, () => api(`${path}/${s.id}`, { method: "PATCH", body: { enabled: !s.enabled } }), onChanged));
  remove.addEventListener("click", () => {
    if (window.confirm(`Delete ${s.url || s.address}? Nothing more is sent to it.`)) act(remove, () => api(`${path}/${s.id}`, { method: "DELETE" }), onChanged);
  });
  const target = s.kind === "webhook"
    ? h("td", {}, h("code", { class: "target", text: s.url }), s.description ? h("div", { class: "muted", text: s.description }) : null)
    : h("td", {}, h("span", { class: "target", text: s.address }));
  return h("tr", { dataset: { subscriptionId: s.id, enabled: String(s.enabled) } },
    target,
    h("td", { text: eventWords(s.events) }),
    h("td", {}, stateBadge(s), s.disabled_reason ? h("div", { class: "muted reason", text: s.disabled_reason }) : null),
    h("td", {}, h("div", { class: "row" }, test, toggle, remove), note, err.el));
}

function subscriptionTable(rows, head, empty) {
  if (!rows.length) return h("p", { class: "empty", text: empty });
  return h("div", { class: "table-wrap" }, h("table", { class: "subscriptions" },
    h("thead", {}, h("tr", {}, head.map((t) => h("th", { scope: "col", text: t })))), h("tbody", {}, rows)));
}

function newWebhookForm(onCreated) {
  const err = errorBox();
  const url = h("input", { id: "webhook-url", type: "url", required: true, maxlength: "2048", placeholder: "https://hooks.example.com/…", spellcheck: "false" });
  const description = h("input", { id: "webhook-description", maxlength: "200", placeholder: "e.g. Team chat" });
  const events = eventChecks("webhook-event");
  const secretBox = h("div", { class: "notice secret", role: "status", hidden: true });
  const button = h("button", { type: "submit", class: "primary", text: "Add webhook" });
  const form = h("form", { class: "panel new-subscription", "aria-labelledby": "new-webhook-title" },
    h("h2", { id: "new-webhook-title", text: "New webhook" }),
    h("div", { class: "row" }, h("label", { for: "webhook-url", text: "URL" }), url),
    h("div", { class: "row" }, h("label", { for: "webhook-description", text: "Description (optional)" }), description),
    events.el, err.el, h("div", { class: "row" }, button), secretBox);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.clear();
    button.disabled = true;
    try {
      const created = await api("/notifications/webhooks", { method: "POST", body: {
        url: url.value.trim(), events: events.chosen(), description: description.value.trim() || null,
      } });
      const secret = h("input", { id: "webhook-secret", readonly: true, value: created.secret, spellcheck: "false" });
      secret.addEventListener("focus", () => secret.select());
      secretBox.replaceChildren(
        h("p", {}, h("strong", { text: "Signing secret for " }), h("code", { text: created.url })),
        h("label", { for: "webhook-secret", text: "Secret (shown only now: copy it into your receiver)" }), secret);
      secretBox.hidden = false;
      url.value = ""; description.value = "";
      onCreated();
    } catch (ex) { err.show(ex); } finally { button.disabled = false; }
  });
  return form;
}

function newEmailForm(status, onCreated) {
  const err = errorBox();
  const address = h("input", { id: "email-address", type: "email", required: true, maxlength: "254", placeholder: "team@example.com", disabled: !status.email_enabled });
  const events = eventChecks("email-event");
  const button = h("button", { type: "submit", class: "primary", text: "Add recipient", disabled: !status.email_enabled });
  const form = h("form", { class: "new-subscription", "aria-labelledby": "email-title" },
    h("div", { class: "row" }, h("label", { for: "email-address", text: "Address" }), address), events.el, err.el, h("div", { class: "row" }, button));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.clear();
    button.disabled = true;
    try {
      await api("/notifications/emails", { method: "POST", body: { address: address.value.trim(), events: events.chosen() } });
      address.value = "";
      onCreated();
    } catch (ex) { err.show(ex); } finally { button.disabled = false; }
  });
  return form;
}

function deliveryRow(d) {
  const outcome = { delivered: "completed", retrying: "paused", failed: "failed" }[d.outcome];
  const next = d.outcome === "retrying" && d.next_attempt_at ? ` · next try ${when(d.next_attempt_at)}` : "";
  return h("tr", { dataset: { eventId: d.event_id, outcome: d.outcome } },
    h("td", {}, h("time", { class: "num", datetime: d.attempted_at, text: when(d.attempted_at) })),
    h("td", { text: LABEL[d.event_type] || d.event_type }),
    h("td", {}, h("span", { class: "target", text: d.target })),
    h("td", { class: "num", text: num(d.attempt) }),
    h("td", {}, h("span", { class: `status status-${outcome}`, text: d.outcome })),
    h("td", { class: "num", text: d.status_code ?? "–" }),
    h("td", { class: "num", text: duration(d.duration_ms) }),
    h("td", { class: "error-cell", title: d.response_body || "", text: (d.error || "") + next }));
}

function deliveriesPanel() {
  const err = errorBox();
  const tbody = h("tbody");
  const more = h("button", { type: "button", class: "ghost", hidden: true, text: "Load more" });
  const refresh = h("button", { type: "button", class: "ghost", text: "Refresh" });
  const empty = h("p", { class: "empty", text: "Nothing sent yet. Add a webhook or recipient, then Send test." });
  const head = ["When", "Event", "To", "Try", "Outcome", "Status", "Duration", "Error"];
  const table = h("div", { class: "table-wrap", hidden: true }, h("table", { class: "deliveries" },
    h("thead", {}, h("tr", {}, head.map((t) => h("th", { scope: "col", text: t })))), tbody));
  let cursor = null;
  async function load(append) {
    err.clear();
    const page = await api(`/notifications/deliveries?limit=${PAGE}${append && cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    if (append) tbody.append(...page.deliveries.map(deliveryRow)); else tbody.replaceChildren(...page.deliveries.map(deliveryRow));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    table.hidden = tbody.childElementCount === 0;
    empty.hidden = !table.hidden;
    return page.deliveries;
  }
  const guarded = (append) => load(append).catch((e) => err.show(e));
  more.addEventListener("click", () => guarded(true));
  refresh.addEventListener("click", () => guarded(false));
  const el = h("section", { class: "panel", "aria-labelledby": "deliveries-title" },
    h("div", { class: "row spread" }, h("h2", { id: "deliveries-title", text: "Recent deliveries" }), refresh),
    empty, table, more, err.el);
  return { el, load: () => guarded(false), reload: load };
}

export function mount(view) {
  document.title = "Notifications · SellerCollection";
  const err = errorBox();
  const hooks = h("section", { class: "panel", "aria-labelledby": "webhooks-title" }, h("h2", { id: "webhooks-title", text: "Webhooks" }));
  const emails = h("section", { class: "panel", "aria-labelledby": "emails-title" }, h("h2", { id: "emails-title", text: "E-mail" }));
  const deliveries = deliveriesPanel();
  let stopped = false;
  const timers = new Set();
  // A test is sent by the server in the background: look for its try a few times, then stop.
  function watchFor(eventId, tries = 15) {
    const timer = setTimeout(async () => {
      timers.delete(timer);
      const rows = await deliveries.reload(false).catch(() => []);
      if (!stopped && tries > 1 && !rows.some((d) => d.event_id === eventId)) watchFor(eventId, tries - 1);
    }, 1000);
    timers.add(timer);
  }
  const handlers = (refresh) => ({ onChanged: refresh, onTested: watchFor });
  async function refreshHooks() {
    try {
      const { webhooks } = await api("/notifications/webhooks");
      if (stopped) return;
      hooks.replaceChildren(hooks.firstChild, subscriptionTable(
        webhooks.map((s) => subscriptionRow(s, "/notifications/webhooks", handlers(refreshHooks))),
        ["URL", "Events", "State", ""], "No webhooks yet. Add one below."));
    } catch (e) { err.show(e); }
  }
  async function refreshEmails() {
    try {
      const status = await api("/notifications/emails");
      if (stopped) return;
      emails.replaceChildren(emails.firstChild,
        h("p", { class: status.email_enabled ? "muted" : "error-text notice", dataset: { emailEnabled: String(status.email_enabled) }, text: status.detail }),
        subscriptionTable(status.recipients.map((s) => subscriptionRow(s, "/notifications/emails", handlers(refreshEmails))),
          ["Address", "Events", "State", ""], "No recipients yet."),
        newEmailForm(status, refreshEmails));
    } catch (e) { err.show(e); }
  }
  view.append(h("h1", { text: "Notifications" }),
    h("p", { class: "muted", text: "Webhooks and e-mail tell your team when runs end and when schedules skip or miss a fire, with nobody watching. Every delivery is signed and retried for up to 24 hours." }),
    err.el, hooks, newWebhookForm(refreshHooks), emails, deliveries.el);
  refreshHooks();
  refreshEmails();
  deliveries.load();
  return () => { stopped = true; timers.forEach(clearTimeout); };
}
