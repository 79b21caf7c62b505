// The agent's callback panel (seed 003): the pending count and list, Call Now, Edit time, Delete, Ready, and
// the Schedule form whose errors are shown by field, as the API names them.
"use strict";
(() => {
  const agent = document.body.dataset.agent;
  const agentPath = encodeURIComponent(agent);
  const tbody = document.querySelector("#pending tbody");
  const badge = document.getElementById("badge");
  const zones = ["Europe/London", "Europe/Paris", "Europe/Berlin", "America/New_York", "America/Chicago",
    "America/Los_Angeles", "Asia/Kolkata", "Australia/Sydney", cb.viewerZone];
  document.getElementById("zones").append(...[...new Set(zones)].map((z) => cb.el("option", {value: z})));

  async function act(method, path, body, done) {
    const result = await cb.api(method, path, body);
    cb.say(result.ok ? done : (result.data?.message || "failed"));
    await refresh();
  }
  function row(c) {
    // The customer's own clock beside the due time, when it differs from the viewer's.
    const theirs = c.customer_timezone && cb.time(c.due_at, c.customer_timezone) !== cb.time(c.due_at)
      ? `${cb.time(c.due_at, c.customer_timezone)} for the customer (${c.customer_timezone})` : "";
    return cb.el("tr", {"data-id": c.id},
      cb.el("td", {}, cb.when(c.due_at), cb.el("span", {class: "local"}, theirs),
        cb.el("span", {class: "local window"}, `until ${cb.when(c.end_at)}`)),
      cb.el("td", {}, c.destination),
      cb.el("td", {}, c.remark),
      cb.el("td", {class: "actions"},
        cb.el("button", {type: "button", onclick: () => act("POST", `/callbacks/${c.id}/call-now`, undefined, "Calling now")}, "Call Now"),
        cb.el("button", {type: "button", onclick: () => {
          const start = window.prompt("New start (e.g. 2h, or 2026-12-24T10:00)", "1h");
          if (!start) return;
          const body = cb.start(start);
          act("PATCH", `/callbacks/${c.id}`, body, "Moved");
        }}, "Edit time"),
        cb.el("button", {type: "button", class: "danger", onclick: () => {
          if (window.confirm(`Delete the callback to ${c.destination}?`)) act("POST", `/callbacks/${c.id}/cancel`, undefined, "Deleted");
        }}, "Delete")));
  }
  async function refresh() {
    const [panel, me] = await Promise.all([cb.api("GET", `/agents/${agentPath}/callbacks`), cb.api("GET", `/agents/${agentPath}`)]);
    if (panel.ok) {
      badge.textContent = panel.data.pending;
      const waiting = panel.data.callbacks.filter((c) => c.state !== "in_progress");
      tbody.replaceChildren(...waiting.map(row));
      document.getElementById("none").hidden = waiting.length > 0;
      document.getElementById("pending").hidden = waiting.length === 0;
      await showCurrent(panel.data.callbacks.find((c) => c.state === "in_progress"));
    }
    const calls = await cb.api("GET", `/agents/${agentPath}/calls`);
    if (calls.ok) {
      lastCall = calls.data.current || calls.data.calls[0] || null;
      const box = document.getElementById("last-call");
      box.hidden = !lastCall;
      if (lastCall) {
        const who = lastCall.withheld ? "a withheld number" : lastCall.number;
        document.getElementById("last-call-what").textContent =
          `${calls.data.current ? "On a call" : "Last call"} from ${who} (${lastCall.asterisk_queue}, ${cb.when(lastCall.answered_at)})`;
      }
    }
    if (me.ok) {
      document.getElementById("ready-state").textContent = me.data.ready ? "You are ready for callbacks" : "You are not ready";
      const toggle = document.getElementById("ready-toggle");
      toggle.textContent = me.data.ready ? "Set not ready" : "Set ready";
      toggle.dataset.ready = me.data.ready ? "1" : "";
    }
  }
  // The callback this agent is on: its interaction state as the dialer writes it (offered, preview with the
  // caller's recording, dialing, handling, wrap-up), and in the wrap-up the dispositions the line's result allows.
  const box = document.getElementById("current");
  const allowed = JSON.parse(box.dataset.dispositions);
  const LABEL = {offered: "offered: answer your phone", preview: "preview", dialing: "dialing the customer",
    handling: "on the call", wrap_up: "wrap-up: how did it go?"};
  let shownRecording = null;
  async function showCurrent(current) {
    box.hidden = !current;
    if (!current) return;
    const attempts = await cb.api("GET", `/callbacks/${encodeURIComponent(current.id)}/attempts`);
    const attempt = attempts.ok ? attempts.data[attempts.data.length - 1] : null;
    const state = attempt ? attempt.interaction_state : "offered";
    document.getElementById("current-number").textContent = current.destination;
    document.getElementById("current-state").textContent = LABEL[state] || state;
    box.dataset.state = state;
    const audio = document.getElementById("current-recording");
    audio.hidden = !(current.recording && (state === "preview" || state === "offered"));
    if (current.recording && shownRecording !== current.recording) {
      audio.src = current.recording;  // the API's URL: the session's cookie lets the agent fetch it
      shownRecording = current.recording;
    }
    const choices = document.getElementById("current-dispositions");
    const statuses = state === "wrap_up" && attempt ? (allowed[attempt.completion_status] || []) : [];
    choices.hidden = statuses.length === 0;
    choices.querySelectorAll("button").forEach((b) => b.remove());
    for (const status of statuses) {
      choices.append(cb.el("button", {type: "button", "data-status": status, onclick: () => {
        const body = {status};
        const start = document.getElementById("current-start").value.trim();
        if (status === "callback_requested") Object.assign(body, cb.start(start || "1h"));
        act("POST", `/callbacks/${encodeURIComponent(current.id)}/disposition`, body, `Given: ${status.replace("_", " ")}`);
      }}, status.replaceAll("_", " ")));
    }
  }

  document.getElementById("ready-toggle").addEventListener("click", (e) =>
    act("PUT", `/agents/${agentPath}/ready`, {ready: !e.target.dataset.ready}, "Presence changed"));

  // "Callback from this call" (seed 003): the schedule form, filled from the agent's current or last inbound
  // call, saves through that call (its queue, and the caller's number unless another is given).
  let lastCall = null, fromCall = null;
  function fromCallMode(call) {
    fromCall = call;
    document.getElementById("from-call-note").hidden = !call;
    document.getElementById("queue").disabled = !!call;
    if (call) {
      document.getElementById("from-call-number").textContent = call.withheld ? "a withheld number" : call.number;
      document.getElementById("destination").value = call.withheld ? "" : (call.number || "");
      if (call.queue) document.getElementById("queue").value = call.queue;
      document.getElementById("destination").focus();
    }
  }
  document.getElementById("from-call").addEventListener("click", () => fromCallMode(lastCall));
  document.getElementById("from-call-clear").addEventListener("click", () => fromCallMode(null));
  const form = document.getElementById("schedule");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    form.querySelectorAll(".error").forEach((p) => { p.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
    const v = Object.fromEntries(new FormData(form).entries());
    const body = {queue: v.queue, destination: v.destination, type: v.type, remark: v.remark};
    if (v.customer_timezone) body.customer_timezone = v.customer_timezone;
    if (v.agent && (v.type === "agent" || v.type === "strict_agent")) body.agent = v.agent;
    if (v.team && v.type === "team") body.team = v.team;
    if (v.start_in) Object.assign(body, cb.start(v.start_in));
    else if (v.date || v.time) body.start_at = `${v.date || cb.today()}T${v.time || "00:00"}`;
    let result;
    if (fromCall) {
      delete body.queue;
      if (!body.destination) delete body.destination;  // the caller's number
      result = await cb.api("POST", `/agents/${agentPath}/calls/${encodeURIComponent(fromCall.id)}/callback`, body);
    } else {
      result = await cb.api("POST", "/callbacks", body);
    }
    if (result.ok) {
      form.reset();
      fromCallMode(null);
      form.querySelector("#agent").value = agent;
      cb.say(`Scheduled: due ${cb.when(result.data.due_at)}`);
      await refresh();
      return;
    }
    const field = (result.data?.field || "").split(".")[0];
    const slot = document.getElementById(`${field}-error`) || document.getElementById("form-error");
    slot.textContent = result.data?.message || `failed (${result.status})`;
    document.getElementById(field)?.setAttribute("aria-invalid", "true");
  });
  refresh();
  cb.live(refresh);
})();
