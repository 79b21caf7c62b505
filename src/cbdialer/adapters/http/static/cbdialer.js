// cbdialer's pages: the admin API called with the session (its cookie) and its CSRF token, the live stream,
// and times shown in the viewer's zone. No framework: small functions that the two pages share.
"use strict";
const cb = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  // The banner that says the page may be stale: shown while the stream is down or cbdialer did not answer a
  // read, gone once the stream is back (it then reads everything again) or an answer comes with it open.
  let streaming = false;
  function offline(shown) {
    const banner = document.getElementById("offline");
    if (banner) banner.hidden = !shown;
  }
  async function api(method, path, body) {
    const headers = {"Accept": "application/json"};
    if (method !== "GET") headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch("/api/v1" + path, {method, headers, credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body)});
    } catch (e) {  // cbdialer did not answer (restarting, the network): an answer like any other failure
      offline(true);
      return {ok: false, status: 0, data: {message: "cbdialer did not answer; try again"}};
    }
    if (streaming) offline(false);
    if (response.status === 401) { window.location.assign("/login"); throw new Error("logged out"); }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = {message: text}; }
    // Logged in again in another tab: this page's CSRF token is stale. A reload gives it the new one.
    if (response.status === 403 && data?.field === "X-CSRF-Token") { window.location.reload(); }
    return {ok: response.ok, status: response.status, data};
  }
  const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  function when(iso, zone) {
    if (!iso) return "";
    const opts = {dateStyle: "medium", timeStyle: "short"};
    if (zone) opts.timeZone = zone;
    try { return new Intl.DateTimeFormat(undefined, opts).format(new Date(iso)); }
    catch (e) { return new Date(iso).toLocaleString(); }
  }
  // The viewer's date today (not UTC's), as a date input wants it.
  function today() {
    const d = new Date();
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  }
  function time(iso, zone) {
    const opts = {timeStyle: "short"};
    if (zone) opts.timeZone = zone;
    try { return new Intl.DateTimeFormat(undefined, opts).format(new Date(iso)); }
    catch (e) { return ""; }
  }
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v); else if (v !== null && v !== undefined) node.setAttribute(k, v);
    }
    for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
    return node;
  }
  let said = 0;
  function say(text) {  // a short note of what an action did, gone after a few seconds
    const status = document.getElementById("status");
    status.textContent = text;
    clearTimeout(said);
    said = setTimeout(() => { status.textContent = ""; }, 4000);
  }
  // One stream per page: refresh when the book changed; the browser reconnects by itself. A change heard
  // during a refresh makes one more refresh after it, so that none is missed.
  function live(refresh) {
    let running = false, again = false;
    const run = async () => {
      if (running) { again = true; return; }
      running = true;
      try { do { again = false; await refresh(); } while (again); } finally { running = false; }
    };
    let source;
    const open = () => {
      source = new EventSource("/events");
      source.addEventListener("open", () => { streaming = true; offline(false); });
      source.addEventListener("changed", run);
      source.addEventListener("error", () => { streaming = false; offline(true); });
      // The browser retries a dropped stream itself, but gives up on an answer other than 200 (logged out,
      // the database away): then look again (a 401 goes to the login page) and reopen a little later.
      source.addEventListener("error", () => {
        if (source.readyState === EventSource.CLOSED) { run(); setTimeout(open, 5000); }
      });
    };
    open();
    window.addEventListener("beforeunload", () => source.close());
  }
  // Answers can come back out of order (a slow search, then a quick one): a function made by newest() gives
  // the answer of the last request it was handed, and null for any answer overtaken by a later request.
  function newest() {
    let asked = 0;
    return async (request) => {
      const mine = ++asked;
      const answer = await request;
      return mine === asked ? answer : null;
    };
  }
  // A start as a person types it: a delay ("2h", "1d2h30m", or seconds) or a date and time (ISO 8601).
  function start(text) {
    const typed = text.trim();
    if (/^\d+$/.test(typed)) return {start_in: Number(typed)};
    return /^\d+[dhms]/.test(typed) ? {start_in: typed} : {start_at: typed};
  }
  // A form's filled fields as a query; a date and time typed in the viewer's zone is sent as an instant.
  function query(form, skip = []) {
    const params = new URLSearchParams();
    for (const field of form.elements) {
      if (!field.name || !field.value || skip.includes(field.name)) continue;
      const instant = field.type === "datetime-local" ? new Date(field.value) : null;
      params.set(field.name, instant && !isNaN(instant) ? instant.toISOString() : field.value);
    }
    return params;
  }
  return {api, when, time, today, start, el, say, live, query, newest, viewerZone};
})();
