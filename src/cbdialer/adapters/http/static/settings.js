// The supervisor's queue settings form: one field per setting, drawn from the API's own description of a
// queue's settings (the OpenAPI document's QueuePatch: types, choices, bounds, descriptions), so that the form
// never lists the settings a second time. Nested settings (schedule, window, lists) are edited as JSON.
"use strict";
(() => {
  const select = document.getElementById("settings-queue");
  const fields = document.getElementById("settings-fields");
  let schema = null, loaded = {}, loadedFor = null;
  const answer = cb.newest();
  function resolve(s) {
    if (s.$ref) return resolve(schema.components.schemas[s.$ref.split("/").pop()]);
    if (s.anyOf) {
      const real = s.anyOf.filter((x) => x.type !== "null");
      if (real.length === 1) return {...resolve(real[0]), description: s.description || real[0].description};
    }
    return s;
  }
  function input(name, value, spec) {
    const id = `setting-${name}`;
    const label = cb.el("label", {for: id}, name.replaceAll("_", " "));
    let control;
    if (spec.enum) {
      control = cb.el("select", {id, name}, ...spec.enum.map((v) => cb.el("option", {value: v}, v)));
      control.value = value ?? "";
    } else if (spec.type === "boolean") {
      control = cb.el("input", {id, name, type: "checkbox"});
      control.checked = !!value;
    } else if (spec.type === "integer" || spec.type === "number") {
      control = cb.el("input", {id, name, type: "number", step: spec.type === "integer" ? "1" : "any",
        min: spec.minimum ?? spec.exclusiveMinimum, max: spec.maximum});
      control.value = value ?? "";
    } else if (spec.type === "string") {
      control = cb.el("input", {id, name});
      control.value = value ?? "";
    } else {
      control = cb.el("textarea", {id, name, rows: "2", "data-json": "1"});
      control.value = JSON.stringify(value);
    }
    const hint = spec.description ? cb.el("span", {class: "local"}, spec.description) : "";
    return cb.el("div", {class: "field"}, label, control, hint, cb.el("p", {class: "error", id: `${id}-error`}));
  }
  async function load() {
    if (!select.value) return;
    if (!schema) {
      const described = await fetch("/api/v1/openapi.json").catch(() => null);
      if (!described?.ok) return;  // the next live refresh tries again (fill)
      schema = await described.json();
    }
    // The answer for the queue picked last, and only while it is still the one picked: a slow answer for
    // another queue must never fill this queue's form (a save would then write that queue's values here).
    const asked = select.value;
    const queue = await answer(cb.api("GET", `/queues/${encodeURIComponent(asked)}`));
    if (!queue?.ok || select.value !== asked) return;
    loaded = queue.data.settings;
    loadedFor = asked;
    const props = schema.components.schemas.QueuePatch.properties;
    fields.replaceChildren(...Object.entries(loaded).filter(([name]) => props[name])
      .map(([name, value]) => input(name, value, resolve(props[name]))));
  }
  document.getElementById("settings").addEventListener("submit", async (event) => {
    event.preventDefault();
    fields.querySelectorAll(".error").forEach((p) => { p.textContent = ""; });
    document.getElementById("settings-error").textContent = "";
    const body = {};
    for (const control of fields.querySelectorAll("input, select, textarea")) {
      let value;
      try {
        value = control.type === "checkbox" ? control.checked
          : control.type === "number" ? (control.value === "" ? null : Number(control.value))
          : control.dataset.json ? JSON.parse(control.value) : (control.value === "" ? null : control.value);
      } catch (e) {
        document.getElementById(`${control.id}-error`).textContent = "not valid JSON";
        return;
      }
      if (JSON.stringify(value) !== JSON.stringify(loaded[control.name])) body[control.name] = value;
    }
    if (loadedFor !== select.value) { cb.say("The settings of this queue are still loading"); return; }
    if (!Object.keys(body).length) { cb.say("Nothing changed"); return; }
    const result = await cb.api("PATCH", `/queues/${encodeURIComponent(select.value)}`, body);
    if (result.ok) {
      // A setting that cannot be cleared keeps its value: say so by the field rather than "saved".
      const kept = Object.keys(body).filter((k) => body[k] === null && result.data.settings[k] !== null);
      for (const name of kept) {
        document.getElementById(`setting-${name}-error`).textContent = "cannot be left empty: the value stays";
      }
      cb.say(kept.length ? "Saved, but some settings kept their value" : "Settings saved");
      const errors = kept.map((name) => document.getElementById(`setting-${name}-error`).textContent);
      await load();
      kept.forEach((name, n) => { document.getElementById(`setting-${name}-error`).textContent = errors[n]; });
      return;
    }
    const field = (result.data?.field || "").split(".")[0];
    const slot = document.getElementById(`setting-${field}-error`) || document.getElementById("settings-error");
    slot.textContent = `${result.data?.field || ""}: ${result.data?.message || "refused"}`;
  });
  // Another queue: its form is empty until its settings come (none of the last queue's values under its name).
  select.addEventListener("change", () => { fields.replaceChildren(); loadedFor = null; load(); });
  window.cbSettings = {fill(queues) {
    if (select.options.length) {
      if (!fields.children.length || loadedFor !== select.value) load();  // a load met an outage: try again now
      return;
    }
    select.append(...queues.map((q) => cb.el("option", {value: q.id}, q.id)));
    load();
  }};
})();
