// Schedules: each one's cron in words, its next five fire times in its time zone (and in yours
// where that differs), its last run, and a form to add one: a preset, "every day at / every week
// on" choices that write the cron (the cron itself stays editable), and a time zone picked from
// the browser's IANA list with type-ahead.

import { api } from "./api.js";
import { h, dateTime, errorBox } from "./format.js";

const WEEKDAYS = [["1", "Monday"], ["2", "Tuesday"], ["3", "Wednesday"], ["4", "Thursday"], ["5", "Friday"], ["6", "Saturday"], ["0", "Sunday"]];
const viewerZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

/** Every IANA time zone the browser knows (works offline), UTC included. */
function timeZones() {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return zones.includes("UTC") ? zones : ["UTC", ...zones];
}

/** "30 7 * * 1,5" as { kind: "weekly", time: "07:30", days: ["1", "5"] }; anything else is "custom". */
export function readCron(cron) {
  const m = /^(\d{1,2}) (\d{1,2}) \* \* (\*|[0-7](?:,[0-7])*)$/.exec(cron.trim().replace(/\s+/g, " "));
  if (!m || Number(m[1]) > 59 || Number(m[2]) > 23) return { kind: "custom" };
  const time = `${m[2].padStart(2, "0")}:${m[1].padStart(2, "0")}`;
  if (m[3] === "*") return { kind: "daily", time, days: [] };
  const days = [...new Set(m[3].split(",").map((d) => (d === "7" ? "0" : d)))];
  return days.length === 7 ? { kind: "daily", time, days: [] } : { kind: "weekly", time, days };
}

/** The cron the helper's choices mean: "M H * * *" daily, "M H * * d,d" weekly. */
export function writeCron(kind, time, days) {
  const [hour, minute] = time.split(":").map(Number);
  const order = WEEKDAYS.map(([d]) => d);
  const week = kind === "weekly" ? [...days].sort((a, b) => order.indexOf(a) - order.indexOf(b)).join(",") : "*";
  return `${minute} ${hour} * * ${week}`;
}

/** "Daily at / weekly on" choices that write the cron, and the cron itself, which stays editable. */
function cronHelper() {
  const kind = h("select", { id: "schedule-repeat", name: "repeat" },
    h("option", { value: "daily", text: "Every day" }), h("option", { value: "weekly", text: "Every week on" }),
    h("option", { value: "custom", text: "Custom (cron)" }));
  const time = h("input", { type: "time", id: "schedule-time", name: "time", value: "06:00", required: true });
  const dayBoxes = WEEKDAYS.map(([value, day]) => h("label", { class: "check day", title: day },
    h("input", { type: "checkbox", name: "weekday", value, checked: value === "1", "aria-label": day }), day.slice(0, 3)));
  const days = h("span", { class: "row weekdays", role: "group", "aria-label": "Days of the week" }, dayBoxes);
  const atLabel = h("label", { for: "schedule-time", text: "at" });
  const cron = h("input", { id: "schedule-cron", name: "cron", required: true, value: "0 6 * * 1", spellcheck: "false" });
  const checked = () => dayBoxes.map((l) => l.firstChild).filter((b) => b.checked).map((b) => b.value);
  function show() {
    days.hidden = kind.value !== "weekly";
    time.hidden = atLabel.hidden = kind.value === "custom";
  }
  function write() {
    if (kind.value !== "custom" && time.value) cron.value = writeCron(kind.value, time.value, checked());
    show();
  }
  function read() {
    const parsed = readCron(cron.value);
    kind.value = parsed.kind;
    if (parsed.kind !== "custom") {
      time.value = parsed.time;
      if (parsed.kind === "weekly") for (const l of dayBoxes) l.firstChild.checked = parsed.days.includes(l.firstChild.value);
    }
    show();
  }
  kind.addEventListener("change", write);
  time.addEventListener("input", write);
  days.addEventListener("change", write);
  cron.addEventListener("input", read);
  read();
  const el = [
    h("div", { class: "row" }, h("label", { for: "schedule-repeat", text: "Repeat" }), kind, days, atLabel, time),
    h("div", { class: "row" }, h("label", { for: "schedule-cron", text: "Cron (minute hour day month weekday)" }), cron),
  ];
  return { el, cron, valid: () => kind.value !== "weekly" || checked().length > 0 };
}

function newScheduleForm(presets, onCreated) {
  const err = errorBox();
  const name = h("input", { id: "schedule-name", name: "name", maxlength: "100", required: true, placeholder: "e.g. Monday kitchen" });
  const preset = h("select", { id: "schedule-preset", name: "preset" },
    presets.map((p) => h("option", { value: p.id, text: p.is_builtin ? p.name : `${p.name} (yours)` })));
  const when = cronHelper();
  const zoneList = h("datalist", { id: "schedule-tz-list" }, timeZones().map((z) => h("option", { value: z })));
  const zone = h("input", { id: "schedule-tz", name: "timezone", required: true, spellcheck: "false", autocomplete: "off",
    list: "schedule-tz-list", value: viewerZone(), placeholder: "Type to search, e.g. America/New_York" });
  const enabled = h("input", { type: "checkbox", id: "schedule-enabled", checked: true });
  // "": the preset's own choice (a built-in's is "new").
  const refresh = h("select", { id: "schedule-refresh", name: "refresh" },
    h("option", { value: "", text: "As the preset says (new unless set)" }),
    h("option", { value: "new", text: "Only products not searched recently (new)" }),
    h("option", { value: "all", text: "Every product again (all)" }));
  const button = h("button", { type: "submit", class: "primary" }, "Add schedule");
  const form = h("form", { class: "panel new-schedule", "aria-labelledby": "new-schedule-title" },
    h("h2", { id: "new-schedule-title", text: "New schedule" }),
    h("div", { class: "row" }, h("label", { for: "schedule-name", text: "Name" }), name),
    h("div", { class: "row" }, h("label", { for: "schedule-preset", text: "Collect" }), preset),
    when.el,
    h("div", { class: "row" }, h("label", { for: "schedule-tz", text: "Time zone" }), zone, zoneList),
    h("div", { class: "row" }, h("label", { for: "schedule-refresh", text: "Search" }), refresh),
    h("div", { class: "row" }, h("label", { class: "check" }, enabled, "Enabled")),
    err.el,
    h("div", { class: "row" }, button));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.clear();
    if (!when.valid()) { err.show("Pick at least one day of the week."); return; }
    button.disabled = true;
    try {
      await api("/collection/schedules", { method: "POST", body: {
        name: name.value.trim(), preset_id: preset.value, cron_expression: when.cron.value.trim(),
        timezone: zone.value.trim(), enabled: enabled.checked, refresh: refresh.value || null,
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

// A fire time in the schedule's zone ("Mon 8 Dec, 06:00 EST") and, where it differs, in the viewer's.
const fireFormat = (timeZone) => new Intl.DateTimeFormat("en-US", { timeZone, weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" });
const offsetFormat = (timeZone) => new Intl.DateTimeFormat("en-US", { timeZone, timeZoneName: "longOffset" });
const viewerFormat = (timeZone) => new Intl.DateTimeFormat("en-US", { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" });

function fireTime(iso, formats) {
  const at = new Date(iso);
  const offset = (f) => f.formatToParts(at).find((p) => p.type === "timeZoneName").value;
  const here = offset(formats.scheduleOffset) === offset(formats.viewerOffset) ? null : formats.viewer.format(at);
  return h("li", {}, h("time", { datetime: iso, text: formats.schedule.format(at) }),
    here ? h("span", { class: "muted your-time", text: ` · ${here} your time` }) : null);
}

function fireTimes(s) {
  let formats;
  try {
    const viewer = viewerZone();
    formats = { schedule: fireFormat(s.timezone), scheduleOffset: offsetFormat(s.timezone), viewer: viewerFormat(viewer), viewerOffset: offsetFormat(viewer) };
  } catch {
    // A zone this browser does not know: the times in UTC, said so.
    formats = { schedule: fireFormat("UTC"), scheduleOffset: offsetFormat("UTC"), viewer: viewerFormat(viewerZone()), viewerOffset: offsetFormat(viewerZone()) };
  }
  return h("ol", { class: "fire-times", "aria-label": `Next fire times of ${s.name}` }, s.next_fire_times.map((t) => fireTime(t, formats)));
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
  const upcoming = s.enabled ? fireTimes(s) : h("span", { class: "muted", text: "Disabled" });
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
