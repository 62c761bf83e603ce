// Data pages: streamed exports with a progress bar, and lists that follow the server by themselves
// (polling with If-None-Match: an unchanged list costs a 304). No framework.
"use strict";

(function () {
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  // ---- exports -------------------------------------------------------------------------------------

  // Lines ended so far. In CSV only line ends outside quotes count (a cell may hold line breaks; '""'
  // inside a cell toggles twice); JSON escapes line breaks (and quotes) in values, so every one counts.
  function rowCounter(csv) {
    let quoted = false;
    let lines = 0;
    return function (bytes) {
      for (let i = 0; i < bytes.length; i++) {
        if (csv && bytes[i] === 34) quoted = !quoted;
        else if (bytes[i] === 10 && !quoted) lines++;
      }
      return lines;
    };
  }
  const HEAD_LINES = { csv: 1, json: 1, jsonl: 0 }; // the header row; the JSON array's "[" line
  const megabytes = (n) => (n / 1e6).toLocaleString(undefined, { maximumFractionDigits: 1 });

  async function download(link) {
    const box = $("#export-progress");
    const bar = $("#export-bar");
    const count = $("#export-count");
    box.hidden = false;
    bar.removeAttribute("value");
    count.textContent = "Starting the export…";
    let resp;
    try { resp = await fetch(link.href, { credentials: "same-origin" }); } catch (err) { resp = null; }
    if (!resp || !resp.ok) { count.textContent = "The export failed; try again."; return; }
    const head = HEAD_LINES[link.dataset.export] ?? 1;
    const rowsIn = rowCounter(link.dataset.export === "csv");
    const name = (/filename="([^"]+)"/.exec(resp.headers.get("Content-Disposition") || "") || [])[1] || "export";
    const reader = resp.body.getReader();
    const parts = [];
    let lines = 0;
    let bytes = 0;
    const zipped = link.dataset.export === "xlsx"; // (a zip: its rows cannot be counted as they arrive)
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      if (zipped) { bytes += value.length; count.textContent = `${megabytes(bytes)} MB…`; continue; }
      lines = rowsIn(value);
      count.textContent = `${Math.max(0, lines - head).toLocaleString()} rows…`;
    }
    const rows = Math.max(0, lines - head);
    bar.max = 1; bar.value = 1;
    count.textContent = zipped ? `Exported ${megabytes(bytes)} MB.`
      : `Exported ${rows.toLocaleString()} row${rows === 1 ? "" : "s"}.`;
    const url = URL.createObjectURL(new Blob(parts, { type: resp.headers.get("Content-Type") || "application/octet-stream" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-export]");
    if (!link || !window.ReadableStream || !$("#export-progress")) return;
    event.preventDefault();
    download(link);
  });
})();

(function () {
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  // ---- live regions: <div id data-live data-refresh="url"> is re-fetched every few seconds ----------

  const LIVE_MS = 3000;
  const etags = new Map();

  function busy(region) {
    return region.contains(document.activeElement) || $("input[data-select-job]:checked", region)
      || $("details[open]", region) && region.id !== "job-detail"
      || $("[data-gap-offer]:not([hidden])", region); // an offer to send what was missed (admin.js) waits for its answer
  }

  async function poll(region) {
    if (document.hidden || busy(region)) return;
    const headers = { "X-Live": "1" }; // only these polls get ETags (a page's own load never a 304)
    if (etags.has(region.id)) headers["If-None-Match"] = etags.get(region.id);
    let resp;
    try { resp = await fetch(region.dataset.refresh, { credentials: "same-origin", headers, cache: "no-store" }); } catch (err) { return; }
    if (resp.status === 304 || !resp.ok) return;
    etags.set(region.id, resp.headers.get("ETag"));
    const holder = document.createElement("div");
    holder.innerHTML = await resp.text();
    const fresh = holder.querySelector(`#${CSS.escape(region.id)}`);
    const current = document.getElementById(region.id);
    if (fresh && current && "liveRows" in current.dataset) addRows(current, fresh);
    else if (fresh && current && !busy(current)) current.replaceWith(fresh);
  }

  // A list that only grows at the top (data-live-rows): the answer holds the rows after the newest shown,
  // and where to ask next (after the newest of those).
  function addRows(body, fresh) {
    const rows = Array.from(fresh.rows);
    body.dataset.refresh = fresh.dataset.refresh;
    if (!rows.length) return;
    body.prepend(...rows);
    const table = body.closest("table");
    if (table) table.hidden = false;
    $$("[data-live-empty]").forEach((el) => { el.hidden = true; });
    const status = $("#submissions-live-status");
    if (status) status.textContent = `${rows.length} new submission${rows.length === 1 ? "" : "s"}.`;
    updateSubBulk();
  }

  // A region may ask for a slower pace (data-live-ms), e.g. the dashboard, whose numbers cost more to count.
  const polled = new Map();
  function tick() {
    $$("[data-live][data-refresh]").forEach((region) => {
      const every = Number(region.dataset.liveMs) || LIVE_MS;
      if (Date.now() - (polled.get(region.id) || 0) < every - 100) return;
      polled.set(region.id, Date.now());
      poll(region);
    });
  }

  // ---- bulk retry / cancel on the executions list ---------------------------------------------------

  // Which jobs allow which change is the engine's rule (engine/jobs.py), rendered on each checkbox.
  const allows = (box, kind) => (kind === "retry" ? "canResend" : "canCancel") in box.dataset;

  function selected() { return $$("input[data-select-job]:checked"); }

  function updateBulk() {
    const bar = $("[data-bulk]");
    if (!bar) return;
    const boxes = selected();
    $("[data-bulk-count]", bar).textContent = boxes.length ? `${boxes.length} selected.` : "None selected.";
    $("[data-bulk-run=retry]", bar).disabled = !boxes.some((b) => allows(b, "retry"));
    $("[data-bulk-run=cancel]", bar).disabled = !boxes.some((b) => allows(b, "cancel"));
  }

  async function runBulk(button) {
    const admin = window.fhAdmin;
    const kind = button.dataset.bulkRun;
    const boxes = selected().filter((b) => allows(b, kind));
    const permanent = boxes.filter((b) => b.hasAttribute("data-permanent")).length;
    let message = `${kind === "retry" ? "Retry" : "Cancel"} ${boxes.length} job${boxes.length === 1 ? "" : "s"}?`;
    if (permanent) message += ` ${permanent} of them failed for a reason retrying cannot fix: fix the cause first, or they fail again.`;
    if (!(await admin.confirmDialog(message, kind === "retry" ? "Retry selected" : "Cancel selected"))) return;
    button.disabled = true;
    let done = 0;
    const failures = [];
    for (const box of boxes) {
      const result = await admin.api("POST", button.dataset.url.replace("__id__", box.dataset.selectJob));
      if (result.ok) done++; else failures.push(admin.errorMessage(result));
    }
    const verb = kind === "retry" ? "queued again" : "cancelled";
    admin.say("#executions-status", `${done} job${done === 1 ? "" : "s"} ${verb}.${failures.length ? ` ${failures.length} could not be: ${failures[0]}` : ""}`, failures.length ? "bad" : "good");
    boxes.forEach((b) => { b.checked = false; });
    updateBulk();
    await admin.refresh($("#executions-table"), true);
  }

  document.addEventListener("change", (event) => { if (event.target.matches("input[data-select-job]")) updateBulk(); });
  document.addEventListener("click", (event) => {
    const all = event.target.closest("[data-bulk-select]");
    if (all) { $$("input[data-select-job]").forEach((b) => { b.checked = true; }); updateBulk(); return; }
    const run = event.target.closest("[data-bulk-run]");
    if (run) runBulk(run);
  });

  // ---- bulk delete / resend on the submissions browser ----------------------------------------------

  const MAX_BULK = 100; // (a page holds fewer; the API takes at most this many ids in one replay)

  function chosenSubs() { return $$("input[data-select-submission]:checked").slice(0, MAX_BULK); }

  function updateSubBulk() {
    const bar = $("[data-sub-bulk]");
    if (!bar) return;
    const chosen = chosenSubs();
    const all = $$("input[data-select-submission]");
    $("[data-sub-count]", bar).textContent = chosen.length ? `${chosen.length} selected.` : "None selected.";
    $$("[data-sub-run]", bar).forEach((b) => { b.disabled = !chosen.length; });
    const every = $("[data-sub-select-all]", bar);
    every.checked = all.length > 0 && chosen.length === all.length;
    every.indeterminate = chosen.length > 0 && chosen.length < all.length;
  }

  async function runSubBulk(button) {
    const admin = window.fhAdmin;
    const bar = button.closest("[data-sub-bulk]");
    const kind = button.dataset.subRun;
    const boxes = chosenSubs();
    const n = boxes.length;
    const plural = `${n} submission${n === 1 ? "" : "s"}`;
    const message = kind === "delete"
      ? `Delete ${plural}? Integrations that listen for deletions are told (for example, Google Sheets rows are removed).`
      : `Send the deliveries of ${plural} to their form's integrations again? Each finished delivery is sent again, with a fresh attempt budget.`;
    if (!(await admin.confirmDialog(message, kind === "delete" ? `Delete ${plural}` : `Resend ${plural}`, "Keep as is"))) return;
    button.disabled = true;
    const failures = [];
    let done = 0;
    if (kind === "delete") {
      for (const box of boxes) {
        const result = await admin.api("DELETE", bar.dataset.deleteUrl.replace("__id__", box.dataset.selectSubmission));
        if (result.ok) { done++; box.closest("tr").remove(); } else failures.push(admin.errorMessage(result));
      }
    } else {
      const byForm = new Map();
      boxes.forEach((b) => byForm.set(b.dataset.form, [...(byForm.get(b.dataset.form) || []), b.dataset.selectSubmission]));
      for (const [formId, ids] of byForm) {
        const body = { form_id: formId, submission_ids: ids, statuses: ["failed", "cancelled", "completed"] };
        const result = await admin.api("POST", bar.dataset.replayUrl, body);
        if (result.ok) done += ids.length; else failures.push(admin.errorMessage(result));
        boxes.filter((b) => b.dataset.form === formId).forEach((b) => { b.checked = false; });
      }
    }
    const verb = kind === "delete" ? "deleted" : "queued to be sent again (see Operations)";
    let text = `${done} of ${plural} ${verb}.`;
    if (failures.length) text += ` ${n - done} could not be: ${failures[0]}`;
    admin.say("#submissions-status", text, failures.length ? "bad" : "good");
    updateSubBulk();
  }

  document.addEventListener("change", (event) => {
    if (event.target.matches("[data-sub-select-all]")) {
      $$("input[data-select-submission]").forEach((b) => { b.checked = event.target.checked; });
    }
    if (event.target.matches("input[data-select-submission], [data-sub-select-all]")) updateSubBulk();
  });
  document.addEventListener("click", (event) => {
    const run = event.target.closest("[data-sub-run]");
    if (run) runSubBulk(run);
  });

  document.addEventListener("DOMContentLoaded", () => {
    updateSubBulk();
    updateBulk();
    if ($("[data-live]")) setInterval(tick, LIVE_MS);
  });
})();
