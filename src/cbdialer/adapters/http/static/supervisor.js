// The supervisor's page (seed 002): the queue monitor, live; the charts; callback search with its actions; the
// reports with their filters.
"use strict";
(() => {
  const pct = (v) => (v === null || v === undefined ? "–" : `${Math.round(v)} %`);
  const secs = (v) => (v === null || v === undefined ? "–" : `${Math.round(v)} s`);
  const STAT = {active: "Active", off_schedule: "Off schedule", stopped: "Stopped"};
  const monitorAnswer = cb.newest(), searchAnswer = cb.newest(), reportAnswer = cb.newest();
  async function monitor() {
    // The queues (for the pickers and the settings) and every queue's row, in one read the viewers share.
    const answers = await monitorAnswer(Promise.all([cb.api("GET", "/queues"), cb.api("GET", "/monitor")]));
    if (!answers) return;
    const [queues, rows] = answers;
    if (!queues.ok) return;
    const select = document.getElementById("s-queue");
    if (select.options.length === 1) select.append(...queues.data.map((q) => cb.el("option", {value: q.id}, q.id)));
    const chartQueue = document.getElementById("chart-queue");
    if (chartQueue.options.length === 0) chartQueue.append(...queues.data.map((q) => cb.el("option", {value: q.id}, q.id)));
    const reportQueue = document.getElementById("r-queue");
    if (reportQueue.options.length === 1) reportQueue.append(...queues.data.map((q) => cb.el("option", {value: q.id}, q.id)));
    window.cbSettings.fill(queues.data);
    if (!rows.ok) return;
    monitored = rows.data;
    chart(false);
    document.querySelector("#monitor tbody").replaceChildren(...rows.data.map((m) =>
      cb.el("tr", {"data-queue": m.queue},
        cb.el("th", {scope: "row"}, m.queue), cb.el("td", {class: "stat"}, STAT[m.status] || m.status),
        cb.el("td", {class: "processed"}, m.processed), cb.el("td", {class: "to-be-processed"}, m.to_be_processed),
        cb.el("td", {}, secs(m.average_handle_time)), cb.el("td", {class: "purged"}, m.purged),
        cb.el("td", {}, pct(m.percent_reached)), cb.el("td", {}, pct(m.percent_failed)),
        cb.el("td", {class: "live-now"}, m.live_now), cb.el("td", {class: "agents-ready"}, m.agents_ready),
        cb.el("td", {class: "actions"},
          m.status === "stopped"
            ? cb.el("button", {type: "button", onclick: () => run("POST", `/queues/${encodeURIComponent(m.queue)}/start`, "Started")}, "Start")
            : cb.el("button", {type: "button", onclick: () => run("POST", `/queues/${encodeURIComponent(m.queue)}/stop`, "Stopped")}, "Stop")))));
  }
  const LOCATION = {pending: "Pending", handling_by_queue: "Handling by the queue",
    handling_by_agent: "Handling by an agent", ended: "Ended"};
  const opened = new Set();  // the callbacks whose history is open: still open after a live refresh
  async function search() {
    const result = await searchAnswer(cb.api("GET", `/callbacks?${cb.query(document.getElementById("search"))}`));
    if (!result) return;  // a later search answers
    document.getElementById("search-error").textContent = result.ok ? "" : (result.data?.message || "failed");
    if (!result.ok) return;
    const rows = result.data.items.map((c) =>
      cb.el("tr", {"data-id": c.id},
        cb.el("td", {}, cb.when(c.due_at)), cb.el("td", {}, c.destination), cb.el("td", {}, c.queue),
        cb.el("td", {class: "state"}, c.state), cb.el("td", {}, c.attempts_count),
        cb.el("td", {class: "location"}, LOCATION[c.location] || c.location),
        cb.el("td", {class: "actions"},
          cb.el("button", {type: "button", class: "history", "aria-expanded": "false", onclick: (e) => details(c, e.target)}, "History"),
          ...(c.location === "pending" || c.location === "handling_by_queue" ? [
          cb.el("button", {type: "button", onclick: () => run("POST", `/callbacks/${c.id}/send-to-queue`, "Sent to the queue")}, "Send to queue"),
          cb.el("button", {type: "button", class: "danger", onclick: () => run("POST", `/callbacks/${c.id}/purge`, "Purged")}, "Purge"),
          cb.el("button", {type: "button", onclick: () => {
            const start = window.prompt("New start (e.g. 2h, or 2026-12-24T10:00 in the customer's time)", "1h");
            if (!start) return;
            run("PATCH", `/callbacks/${c.id}`, "Rescheduled", cb.start(start));
          }}, "Reschedule"),
          cb.el("button", {type: "button", onclick: () => run("POST", `/callbacks/${c.id}/cancel`, "Cancelled")}, "Cancel"),
        ] : []))));
    // An open history (and the recording playing in it) is moved under its new row as it is, not rebuilt:
    // a live refresh must not cut a recording off. It is read again when opened again.
    const kept = new Map([...document.querySelectorAll("#results tr.details")].map((d) => [d.dataset.for, d]));
    document.querySelector("#results tbody").replaceChildren(...rows);
    const listed = new Set(result.data.items.map((c) => c.id));
    for (const id of [...opened]) if (!listed.has(id)) opened.delete(id);  // gone from the list: closed
    await Promise.all(result.data.items.filter((c) => opened.has(c.id)).map((c) => {
      const button = document.querySelector(`#results tr[data-id="${c.id}"] button.history`);
      if (!kept.has(c.id)) return details(c, button, true);
      button.closest("tr").after(kept.get(c.id));
      button.setAttribute("aria-expanded", "true");
      return null;
    }));
  }
  // A callback's audit trail and its attempts, in a row under it.
  async function details(c, button, again) {
    const row = button.closest("tr");
    const open = row.nextElementSibling?.classList.contains("details");
    if (open && !again) {
      row.nextElementSibling.remove(); button.setAttribute("aria-expanded", "false"); opened.delete(c.id); return;
    }
    opened.add(c.id);
    const id = encodeURIComponent(c.id);
    const [history, attempts] = await Promise.all([cb.api("GET", `/callbacks/${id}/history`),
      cb.api("GET", `/callbacks/${id}/attempts`)]);
    const lines = (history.ok ? history.data : []).map((h) => cb.el("li", {},
      `${cb.when(h.at)}: ${h.from_state || "new"} → ${h.to_state} (${h.reason}, ${h.actor})`));
    const tries = (attempts.ok ? attempts.data : []).map((a) => cb.el("li", {},
      `${cb.when(a.started_at)}: agent ${a.agent || "–"}, ${a.interaction_state}, ${a.completion_status || "…"}` +
      `${a.dial_status ? `, line ${a.dial_status}` : ""}`));
    // The caller's recording (seed 002), played from the API with the session.
    const recording = c.recording ? [cb.el("strong", {}, "Caller's recording"),
      cb.el("audio", {controls: "", preload: "none", src: c.recording})] : [];
    if (!row.isConnected) return;  // re-rendered meanwhile: the new row opens its own
    row.nextElementSibling?.classList.contains("details") && row.nextElementSibling.remove();
    if (!opened.has(c.id)) return;  // closed while it was read
    row.after(cb.el("tr", {class: "details", "data-for": c.id}, cb.el("td", {colspan: "7"}, ...recording,
      cb.el("strong", {}, "History"), cb.el("ul", {}, ...lines),
      cb.el("strong", {}, "Attempts"), tries.length ? cb.el("ul", {}, ...tries) : cb.el("p", {class: "empty"}, "None yet."))));
    button.setAttribute("aria-expanded", "true");
  }
  async function run(method, path, done, body) {
    const result = await cb.api(method, path, body);
    cb.say(result.ok ? done : (result.data?.message || "failed"));
    await refresh();
  }
  // The charts are drawn by the server, with a new URL each time so that the browser asks again. On a live
  // refresh: at once when the queue's agents ready or its status changed (the monitor shows them too, and the
  // two must agree), else at most every CHART_EVERY ms (24 hours ahead move slowly); at once for another queue.
  const CHART_EVERY = 30000;
  let drawn = 0, drawnAt = 0, drawnKey = "", monitored = [];
  function chart(now, row) {
    const queue = document.getElementById("chart-queue").value;
    if (!queue) return;
    row = row || monitored.find((m) => m.queue === queue);
    const key = row ? `${row.agents_ready} ${row.status}` : "";
    if (!now && key === drawnKey && Date.now() - drawnAt < CHART_EVERY) return;
    drawnKey = key;
    drawn += 1;
    drawnAt = Date.now();
    const q = encodeURIComponent(queue);
    document.getElementById("due-chart").src = `/supervisor/due.svg?queue=${q}&n=${drawn}`;
    document.getElementById("outcomes-chart").src = `/supervisor/outcomes.svg?queue=${q}&n=${drawn}`;
  }
  // The reports: the filters make both the preview (JSON, the first rows) and the CSV link; an error is shown
  // by its field, as the API names it.
  const reportForm = document.getElementById("report");
  const COLUMNS = JSON.parse(reportForm.dataset.columns);
  const PREVIEW_ROWS = 20;
  function reportPath(format, limit) {
    const params = cb.query(reportForm, ["report"]);
    params.set("format", format);
    if (limit) params.set("limit", limit);
    return `/reports/${reportForm.elements.report.value}?${params}`;
  }
  function reportLink() { document.getElementById("report-csv").href = "/api/v1" + reportPath("csv"); }
  async function report() {
    for (const e of reportForm.querySelectorAll(".error")) e.textContent = "";
    for (const e of reportForm.querySelectorAll("[aria-invalid]")) e.removeAttribute("aria-invalid");
    const result = await reportAnswer(cb.api("GET", reportPath("json", PREVIEW_ROWS)));
    if (!result) return;  // a later preview answers
    const head = document.querySelector("#report-rows thead"), body = document.querySelector("#report-rows tbody");
    if (!result.ok) {
      const field = document.getElementById(`r-${result.data?.field}-error`);
      (field || document.getElementById("report-error")).textContent = result.data?.message || "failed";
      reportForm.elements[result.data?.field]?.setAttribute("aria-invalid", "true");
      head.replaceChildren(); body.replaceChildren();
      document.getElementById("report-total").textContent = "";
      return;
    }
    document.getElementById("report-error").textContent = "";
    const columns = COLUMNS[reportForm.elements.report.value];
    const shown = result.data.records;
    document.getElementById("report-total").textContent = result.data.truncated
      ? `More than ${shown.length} records: the first ${shown.length} are shown, the CSV has the rest ` +
        `(up to ${Number(reportForm.dataset.maxRows).toLocaleString()} rows; a shorter period for more)`
      : `${shown.length} records`;
    head.replaceChildren(cb.el("tr", {}, ...columns.map(([, heading]) => cb.el("th", {scope: "col"}, heading))));
    body.replaceChildren(...shown.map((r) => cb.el("tr", {}, ...columns.map(([key]) =>
      cb.el("td", {}, /_(time|at)$/.test(key) && r[key] ? cb.when(r[key]) : (r[key] ?? ""))))));
  }
  reportForm.addEventListener("input", reportLink);
  reportForm.addEventListener("submit", (e) => { e.preventDefault(); reportLink(); report(); });
  document.getElementById("chart-queue").addEventListener("change", () => chart(true));
  async function refresh() { await Promise.all([monitor(), search()]); }
  document.getElementById("search").addEventListener("submit", (e) => { e.preventDefault(); search(); });
  refresh();
  cb.live(refresh);
})();
