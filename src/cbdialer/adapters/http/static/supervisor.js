// The supervisor's page (seed 002): the queue monitor, live; callback search with its actions; the reports.
"use strict";
(() => {
  const pct = (v) => (v === null || v === undefined ? "–" : `${Math.round(v)} %`);
  const secs = (v) => (v === null || v === undefined ? "–" : `${Math.round(v)} s`);
  const STAT = {active: "Active", off_schedule: "Off schedule", stopped: "Stopped"};
  async function monitor() {
    const queues = await cb.api("GET", "/queues");
    if (!queues.ok) return;
    const select = document.getElementById("s-queue");
    if (select.options.length === 1) select.append(...queues.data.map((q) => cb.el("option", {value: q.id}, q.id)));
    const chartQueue = document.getElementById("chart-queue");
    if (chartQueue.options.length === 0) chartQueue.append(...queues.data.map((q) => cb.el("option", {value: q.id}, q.id)));
    chart();
    window.cbSettings.fill(queues.data);
    const rows = await Promise.all(queues.data.map((q) => cb.api("GET", `/queues/${encodeURIComponent(q.id)}/metrics`)));
    document.querySelector("#monitor tbody").replaceChildren(...rows.filter((r) => r.ok).map(({data: m}) =>
      cb.el("tr", {"data-queue": m.queue},
        cb.el("th", {scope: "row"}, m.queue), cb.el("td", {class: "stat"}, STAT[m.status] || m.status),
        cb.el("td", {class: "processed"}, m.processed), cb.el("td", {class: "to-be-processed"}, m.to_be_processed),
        cb.el("td", {}, secs(m.average_handle_time)), cb.el("td", {class: "purged"}, m.purged),
        cb.el("td", {}, pct(m.percent_reached)), cb.el("td", {}, pct(m.percent_failed)),
        cb.el("td", {class: "actions"},
          m.status === "stopped"
            ? cb.el("button", {type: "button", onclick: () => run("POST", `/queues/${encodeURIComponent(m.queue)}/start`, "Started")}, "Start")
            : cb.el("button", {type: "button", onclick: () => run("POST", `/queues/${encodeURIComponent(m.queue)}/stop`, "Stopped")}, "Stop")))));
  }
  const LOCATION = {pending: "Pending", handling_by_queue: "Handling by the queue",
    handling_by_agent: "Handling by an agent", ended: "Ended"};
  async function search() {
    const params = new URLSearchParams([...new FormData(document.getElementById("search")).entries()].filter(([, v]) => v));
    const result = await cb.api("GET", `/callbacks?${params}`);
    document.getElementById("search-error").textContent = result.ok ? "" : (result.data?.message || "failed");
    if (!result.ok) return;
    document.querySelector("#results tbody").replaceChildren(...result.data.items.map((c) =>
      cb.el("tr", {"data-id": c.id},
        cb.el("td", {}, cb.when(c.due_at)), cb.el("td", {}, c.destination), cb.el("td", {}, c.queue),
        cb.el("td", {class: "state"}, c.state), cb.el("td", {}, c.attempts_count),
        cb.el("td", {class: "location"}, LOCATION[c.location] || c.location),
        cb.el("td", {class: "actions"},
          cb.el("button", {type: "button", "aria-expanded": "false", onclick: (e) => details(c, e.target)}, "History"),
          ...(c.location === "pending" || c.location === "handling_by_queue" ? [
          cb.el("button", {type: "button", onclick: () => run("POST", `/callbacks/${c.id}/send-to-queue`, "Sent to the queue")}, "Send to queue"),
          cb.el("button", {type: "button", class: "danger", onclick: () => run("POST", `/callbacks/${c.id}/purge`, "Purged")}, "Purge"),
          cb.el("button", {type: "button", onclick: () => {
            const start = window.prompt("New start (e.g. 2h, or 2026-12-24T10:00 in the customer's time)", "1h");
            if (!start) return;
            run("PATCH", `/callbacks/${c.id}`, "Rescheduled", cb.start(start));
          }}, "Reschedule"),
          cb.el("button", {type: "button", onclick: () => run("POST", `/callbacks/${c.id}/cancel`, "Cancelled")}, "Cancel"),
        ] : [])))));
  }
  // A callback's audit trail and its attempts, in a row under it.
  async function details(c, button) {
    const row = button.closest("tr");
    const open = row.nextElementSibling?.classList.contains("details");
    if (open) { row.nextElementSibling.remove(); button.setAttribute("aria-expanded", "false"); return; }
    const id = encodeURIComponent(c.id);
    const [history, attempts] = await Promise.all([cb.api("GET", `/callbacks/${id}/history`),
      cb.api("GET", `/callbacks/${id}/attempts`)]);
    const lines = (history.ok ? history.data : []).map((h) => cb.el("li", {},
      `${cb.when(h.at)}: ${h.from_state || "new"} → ${h.to_state} (${h.reason}, ${h.actor})`));
    const tries = (attempts.ok ? attempts.data : []).map((a) => cb.el("li", {},
      `${cb.when(a.started_at)}: agent ${a.agent || "–"}, ${a.interaction_state}, ${a.completion_status || "…"}` +
      `${a.dial_status ? `, line ${a.dial_status}` : ""}`));
    row.after(cb.el("tr", {class: "details"}, cb.el("td", {colspan: "7"},
      cb.el("strong", {}, "History"), cb.el("ul", {}, ...lines),
      cb.el("strong", {}, "Attempts"), tries.length ? cb.el("ul", {}, ...tries) : cb.el("p", {class: "empty"}, "None yet."))));
    button.setAttribute("aria-expanded", "true");
  }
  async function run(method, path, done, body) {
    const result = await cb.api(method, path, body);
    cb.say(result.ok ? done : (result.data?.message || "failed"));
    await refresh();
  }
  let drawn = 0;
  function chart() {  // drawn by the server; a new URL each time so that the browser asks again
    const queue = document.getElementById("chart-queue").value;
    if (queue) document.getElementById("due-chart").src = `/supervisor/due.svg?queue=${encodeURIComponent(queue)}&n=${++drawn}`;
  }
  document.getElementById("chart-queue").addEventListener("change", chart);
  async function refresh() { await Promise.all([monitor(), search()]); }
  document.getElementById("search").addEventListener("submit", (e) => { e.preventDefault(); search(); });
  refresh();
  cb.live(refresh);
})();
