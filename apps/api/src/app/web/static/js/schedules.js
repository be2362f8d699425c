// Schedules: each one's cron in words, its next five fire times in your time, its last run, and
// a form to add one (a preset or the categories of one, on a cron expression in a time zone).

import { api } from "./api.js";
import { h, dateTime, errorBox } from "./format.js";

function newScheduleForm(presets, onCreated) {
  const err = errorBox();
  const name = h("input", { id: "schedule-name", name: "name", maxlength: "100", required: true, placeholder: "e.g. Monday kitchen" });
  const preset = h("select", { id: "schedule-preset", name: "preset" },
    presets.map((p) => h("option", { value: p.id, text: p.is_builtin ? p.name : `${p.name} (yours)` })));
  const cron = h("input", { id: "schedule-cron", name: "cron", required: true, value: "0 6 * * 1", spellcheck: "false" });
  const zone = h("input", { id: "schedule-tz", name: "timezone", required: true, spellcheck: "false",
    value: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC" });
  const enabled = h("input", { type: "checkbox", id: "schedule-enabled", checked: true });
  const button = h("button", { type: "submit", class: "primary" }, "Add schedule");
  const form = h("form", { class: "panel new-schedule", "aria-labelledby": "new-schedule-title" },
    h("h2", { id: "new-schedule-title", text: "New schedule" }),
    h("div", { class: "row" }, h("label", { for: "schedule-name", text: "Name" }), name),
    h("div", { class: "row" }, h("label", { for: "schedule-preset", text: "Collect" }), preset),
    h("div", { class: "row" }, h("label", { for: "schedule-cron", text: "Cron (minute hour day month weekday)" }), cron),
    h("div", { class: "row" }, h("label", { for: "schedule-tz", text: "Time zone" }), zone),
    h("div", { class: "row" }, h("label", { class: "check" }, enabled, "Enabled")),
    err.el,
    h("div", { class: "row" }, button));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.clear();
    button.disabled = true;
    try {
      await api("/collection/schedules", { method: "POST", body: {
        name: name.value.trim(), preset_id: preset.value, cron_expression: cron.value.trim(),
        timezone: zone.value.trim(), enabled: enabled.checked,
      } });
      name.value = "";
      onCreated();
    } catch (ex) {
      err.show(ex);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function scheduleRow(s, refresh) {
  const err = errorBox();
  const toggle = h("button", { type: "button", class: "ghost", dataset: { action: "toggle" }, text: s.enabled ? "Disable" : "Enable" });
  const remove = h("button", { type: "button", class: "ghost", dataset: { action: "delete" }, text: "Delete" });
  async function act(button, call) {
    err.clear();
    button.disabled = true;
    try { await call(); refresh(); } catch (ex) { err.show(ex); button.disabled = false; }
  }
  toggle.addEventListener("click", () => act(toggle, () => api(`/collection/schedules/${s.id}`, { method: "PATCH", body: { enabled: !s.enabled } })));
  remove.addEventListener("click", () => act(remove, () => api(`/collection/schedules/${s.id}`, { method: "DELETE" })));
  const collects = s.preset_name ? `Preset: ${s.preset_name}` : `${s.category_ids.length} categories`;
  const upcoming = s.enabled
    ? h("ol", { class: "fire-times", "aria-label": `Next fire times of ${s.name}` }, s.next_fire_times.map((t) => h("li", {}, h("time", { datetime: t, text: dateTime(t) }))))
    : h("span", { class: "muted", text: "Disabled" });
  const last = s.last_run_id
    ? h("span", {}, h("a", { href: `/runs/${s.last_run_id}`, "data-nav": true, text: "Last run" }), " ", h("time", { class: "muted", datetime: s.last_run_at, text: dateTime(s.last_run_at) }))
    : h("span", { class: "muted", text: "Never ran" });
  return h("tr", { dataset: { scheduleId: s.id, enabled: String(s.enabled) } },
    h("th", { scope: "row", text: s.name }),
    h("td", {}, h("code", { text: s.cron_expression }), h("div", { class: "muted", text: `${s.description} (${s.timezone})` })),
    h("td", { text: collects }),
    h("td", {}, upcoming),
    h("td", {}, last),
    h("td", {}, h("div", { class: "row" }, toggle, remove), err.el));
}

export function mount(view) {
  document.title = "Schedules · SellerCollection";
  const err = errorBox();
  const listBox = h("section", { class: "panel", "aria-labelledby": "schedules-title" }, h("h2", { id: "schedules-title", text: "Schedules" }));
  const formSlot = h("div");
  view.append(h("h1", { text: "Schedules" }),
    h("p", { class: "muted", text: "Each fire starts one run as the schedule's creator; fires that start nothing (open-run limit, previous run still open, missed while no server ran) appear in History." }),
    err.el, listBox, formSlot);
  let stopped = false;
  async function refresh() {
    try {
      const { schedules } = await api("/collection/schedules");
      if (stopped) return;
      const head = ["Name", "When", "Collects", "Next fire times", "Last run", ""];
      listBox.replaceChildren(listBox.firstChild, schedules.length
        ? h("div", { class: "table-wrap" }, h("table", { class: "schedules" },
            h("thead", {}, h("tr", {}, head.map((t) => h("th", { scope: "col", text: t })))),
            h("tbody", {}, schedules.map((s) => scheduleRow(s, refresh)))))
        : h("p", { class: "empty", text: "No schedules yet. Add one below." }));
    } catch (e) {
      err.show(e);
    }
  }
  api("/amazon/presets").then(({ presets }) => { if (!stopped) formSlot.replaceChildren(newScheduleForm(presets, refresh)); }).catch((e) => err.show(e));
  refresh();
  return () => { stopped = true; };
}
