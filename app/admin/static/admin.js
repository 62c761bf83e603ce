// Formhooks admin: the pages are server-rendered; this file sends every change to the JSON API
// (session cookie + X-CSRFToken header), shows the server's per-field errors in place, and refreshes
// lists while jobs are pending. No framework, no build step.
"use strict";

(function () {
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const csrf = () => ($('meta[name="csrf-token"]') || {}).content || "";

  // ---- the API -------------------------------------------------------------------------------------

  async function api(method, url, body) {
    const init = {
      method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrf() },
    };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(url, init);
    } catch (err) {
      return { ok: false, status: 0, data: { error: { message: "The server could not be reached." } } };
    }
    let data = null;
    if (resp.status !== 204) {
      try { data = await resp.json(); } catch (err) { data = null; }
    }
    return { ok: resp.ok, status: resp.status, data };
  }

  function errorMessage(result) {
    const err = result.data && result.data.error;
    if (err && err.message) return err.message;
    return result.status ? `The request failed (HTTP ${result.status}).` : "The request failed.";
  }

  function splitAction(spec) {
    const i = spec.indexOf(" ");
    return { method: spec.slice(0, i), url: spec.slice(i + 1) };
  }

  // ---- messages ------------------------------------------------------------------------------------

  function say(target, text, tone) {
    const el = typeof target === "string" ? $(target) : target;
    if (!el) return;
    el.textContent = text;
    el.dataset.tone = tone || "";
    el.hidden = !text;
  }

  function flashNext(text) {
    try { sessionStorage.setItem("fh-flash", text); } catch (err) { /* private mode */ }
  }

  function showFlash() {
    let text = null;
    try { text = sessionStorage.getItem("fh-flash"); sessionStorage.removeItem("fh-flash"); } catch (err) { /* */ }
    const box = $("#flash");
    if (text && box) {
      const p = document.createElement("p");
      p.className = "notice";
      p.textContent = text;
      box.appendChild(p);
    }
  }

  function fill(template, data) {
    return template.replace(/\{(\w+)\}/g, (_, key) => (data && data[key] !== undefined ? data[key] : ""));
  }

  // ---- reading a form into JSON --------------------------------------------------------------------

  function control(wrapper) {
    return wrapper.matches("input, select, textarea") ? wrapper : $("input, select, textarea", wrapper);
  }

  function cellValue(input) {
    const kind = input.dataset.cellKind || "text";
    if (kind === "checkbox") return input.checked;
    const raw = input.value.trim();
    if (kind === "csv") return raw ? raw.split(",").map((s) => s.trim()).filter(Boolean) : [];
    return raw;
  }

  function rowsOf(wrapper) {
    return $$("[data-row]", wrapper).map((row) => {
      const obj = {};
      $$("[data-col]", row).forEach((input) => { obj[input.dataset.col] = cellValue(input); });
      return obj;
    });
  }

  const blank = (v) => v === "" || v === false || v === undefined || (Array.isArray(v) && v.length === 0);

  // Returns [value, present]. Absent values are left out of the JSON (a blank secret keeps the saved one).
  function readField(wrapper) {
    const kind = wrapper.dataset.kind;
    const input = control(wrapper);
    switch (kind) {
      case "checkbox":
        return [input.checked, true];
      case "preset":
        return input.checked ? [JSON.parse(wrapper.dataset.preset), true] : [undefined, false];
      case "color": // #rrggbb -> the number the schema takes
        return [parseInt(input.value.slice(1), 16), true];
      case "checkboxes":
        return [$$("input[type=checkbox]", wrapper).filter((c) => c.checked).map((c) => c.value), true];
      case "number":
      case "integer": {
        const raw = input.value.trim();
        if (!raw) return [undefined, false];
        const n = Number(raw);
        return [Number.isFinite(n) ? n : raw, true];
      }
      case "keyvalue": {
        const obj = {};
        rowsOf(wrapper).forEach((r) => { if (r.key) obj[r.key] = r.value; });
        return [obj, true];
      }
      case "mapping": {
        const rows = rowsOf(wrapper)
          .filter((r) => !Object.values(r).every(blank))
          .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== "")));
        return [rows, true];
      }
      case "lines":
        return [input.value.split("\n").map((s) => s.trim()).filter(Boolean), true];
      case "json": {
        const raw = input.value.trim();
        if (!raw) return [undefined, false];
        try { return [JSON.parse(raw), true]; } catch (err) { return [raw, true]; }
      }
      default: {
        // text, textarea, select, secret, hidden
        const raw = input.value;
        return raw.trim() === "" ? [undefined, false] : [kind === "textarea" ? raw : raw.trim(), true];
      }
    }
  }

  function setPath(obj, path, value) {
    const parts = path.split(".");
    let node = obj;
    parts.slice(0, -1).forEach((p) => { node = node[p] = node[p] || {}; });
    node[parts[parts.length - 1]] = value;
  }

  function serialize(form) {
    const body = {};
    $$("[data-name]", form).forEach((wrapper) => {
      if (wrapper.closest("template")) return;
      // The way to connect that is not chosen is cleared (so a saved one does not linger).
      if (wrapper.closest("[data-mode-panel][hidden]")) { setPath(body, wrapper.dataset.name, null); return; }
      const [value, present] = readField(wrapper);
      if (present) setPath(body, wrapper.dataset.name, value);
    });
    if ($('[data-name^="config."]', form) && !body.config) body.config = {};
    return body;
  }

  // ---- showing the server's errors -----------------------------------------------------------------

  // {"config": {"url": ["Not a valid URL."]}} -> [["config.url", "Not a valid URL."]]
  function flatten(details, prefix = "") {
    const out = [];
    if (Array.isArray(details)) {
      if (details.every((d) => typeof d === "string")) out.push([prefix, details.join(" ")]);
      else details.forEach((d, i) => out.push(...flatten(d, prefix ? `${prefix}.${i}` : String(i))));
    } else if (details && typeof details === "object") {
      Object.entries(details).forEach(([k, v]) => out.push(...flatten(v, prefix ? `${prefix}.${k}` : k)));
    } else if (details !== undefined && details !== null) {
      out.push([prefix, String(details)]);
    }
    return out;
  }

  // The validation library's words, said the way the product says them.
  const PRODUCT_WORDS = {
    "Missing data for required field.": "This is required.",
    "Field may not be null.": "This is required.",
    "Not a valid URL.": "Enter a full web address, starting with https://.",
    "Not a valid email address.": "Enter an e-mail address, like name@example.com.",
    "Not a valid integer.": "Enter a whole number.",
    "Not a valid number.": "Enter a number.",
    "Not a valid boolean.": "Choose yes or no.",
    "Not a valid string.": "Enter text.",
    "Unknown field.": "This integration has no such setting.",
  };

  function inProductWords(message) {
    return Object.entries(PRODUCT_WORDS).reduce((text, [from, to]) => text.split(from).join(to), message);
  }

  function humanPath(rest) {
    return rest.split(".").map((p) => (/^\d+$/.test(p) ? `row ${Number(p) + 1}` : p.replace(/_/g, " "))).join(" › ");
  }

  function clearErrors(form) {
    $$("[data-error-for]", form).forEach((el) => { el.textContent = ""; el.hidden = true; });
    $$("[aria-invalid]", form).forEach((el) => el.removeAttribute("aria-invalid"));
    summarize(form, "");
  }

  // The summary of a failed save goes above the fields it points at ("marked below").
  function summarize(form, text) {
    let box = $(":scope > [data-form-summary]", form);
    if (!box && !text) return;
    if (!box) {
      box = document.createElement("div");
      box.className = "alert alert-bad form-summary";
      box.setAttribute("role", "alert");
      box.dataset.formSummary = "";
      form.prepend(box);
    }
    box.textContent = text;
    box.hidden = !text;
  }

  // "fields.3.name" on a rows editor: the input of row 4's "name" column, not the editor's first input.
  function cellOf(wrapper, rest) {
    if (!rest.length || !/^\d+$/.test(rest[0])) return null;
    const row = $$("[data-row]", wrapper)[Number(rest[0])];
    if (!row) return null;
    return (rest[1] && $(`[data-col="${CSS.escape(rest[1])}"]`, row)) || $("input, select", row);
  }

  // Each error goes to the closest element declared for its path (or a prefix of it); returns the rest.
  function showErrors(form, details) {
    const unplaced = [];
    let first = null;
    flatten(details).forEach(([path, raw]) => {
      const message = inProductWords(raw);
      const parts = path.split(".");
      for (let n = parts.length; n > 0; n--) {
        const prefix = parts.slice(0, n).join(".");
        const slot = $(`[data-error-for="${CSS.escape(prefix)}"]`, form);
        if (!slot) continue;
        const rest = parts.slice(n).join(".");
        const text = rest ? `${humanPath(rest)}: ${message}` : message;
        slot.textContent = slot.textContent ? `${slot.textContent} ${text}` : text;
        slot.hidden = false;
        const wrapper = $(`[data-name="${CSS.escape(prefix)}"]`, form);
        const input = wrapper && (cellOf(wrapper, parts.slice(n)) || control(wrapper));
        if (input) { input.setAttribute("aria-invalid", "true"); first = first || input; }
        return;
      }
      unplaced.push(path ? `${humanPath(path)}: ${message}` : message);
    });
    if (first) first.focus();
    return unplaced;
  }

  // ---- forms that write through the API ------------------------------------------------------------

  function statusOf(form) {
    return $(".form-status", form) || $(form.dataset.status || "#none");
  }

  function afterSuccess(then, data, successText, status) {
    if (!then) { say(status, successText || "Saved.", "good"); return; }
    if (then === "reload") { if (successText) flashNext(successText); location.reload(); return; }
    if (then.startsWith("go:") || then.startsWith("replace:")) {
      if (successText) flashNext(successText);
      // replace: this page's address leaves the history (a link that works once, e.g. an invitation)
      const [how, target] = [then.slice(0, then.indexOf(":")), then.slice(then.indexOf(":") + 1)];
      location[how === "go" ? "assign" : "replace"](target.replace("__id__", data && data.id ? data.id : ""));
      return;
    }
    if (then.startsWith("reveal:")) {
      say(status, successText || "", "good");
      const box = $(then.slice(7));
      $$("[data-reveal-field]", box).forEach((el) => { el.value = data[el.dataset.revealField] || ""; });
      box.hidden = false;
      box.focus();
    }
  }

  async function submitApiForm(form, submitter) {
    const { method, url } = splitAction(form.dataset.api);
    const status = statusOf(form);
    if (form.dataset.confirm && !(await confirmDialog(form.dataset.confirm, form.dataset.confirmLabel))) return;
    clearErrors(form);
    say(status, "Saving…", "");
    if (submitter) submitter.disabled = true;
    const result = await api(method, url, serialize(form));
    if (submitter) submitter.disabled = false;
    if (result.ok) {
      form.dataset.dirty = "";
      const gap = result.data && result.data.gap;
      if (gap && gap.submissions && form.dataset.gapBackfill) {  // switched back on: offer what it missed
        say(status, "Saved.", "good");
        offerGap(status, form.dataset.gapBackfill, gap, submitter);
        return;
      }
      // data-fill: the success text names parts of the answer ("Saved as revision {revision}.")
      const text = "fill" in form.dataset ? fill(form.dataset.success || "", result.data) : form.dataset.success;
      afterSuccess(form.dataset.then, result.data, text, status);
      if (form.dataset.refreshAfter) refresh($(form.dataset.refreshAfter), true);
      return;
    }
    const details = result.data && result.data.error && result.data.error.details;
    const unplaced = result.status === 422 && details ? showErrors(form, details) : [];
    if (result.status === 422 && $("[aria-invalid]", form)) {
      say(status, "", "");
      summarize(form, ["Please fix the fields marked below.", ...unplaced].join(" "));
      return;
    }
    say(status, [result.status === 422 ? "Not saved." : errorMessage(result), ...unplaced].join(" "), "bad");
  }

  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-api]");
    if (!form) return;
    event.preventDefault();
    submitApiForm(form, event.submitter);
  });

  document.addEventListener("input", (event) => {
    const form = event.target.closest("form[data-api]");
    if (form) form.dataset.dirty = "1";
  });

  // ---- confirmation dialog -------------------------------------------------------------------------

  // ``dismiss`` names the way back when "Cancel" would be ambiguous (the action itself cancels something).
  function confirmDialog(message, label, dismiss) {
    const dialog = $("#confirm-dialog");
    if (!dialog || typeof dialog.showModal !== "function") return Promise.resolve(window.confirm(message));
    $("#confirm-message", dialog).textContent = message;
    $("#confirm-ok", dialog).textContent = label || "Confirm";
    $("#confirm-dismiss", dialog).textContent = dismiss || "Cancel";
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    });
  }

  // ---- buttons: API actions, tests, copy, rows, dialogs ------------------------------------------

  async function runAction(button) {
    const ds = button.dataset;
    if (ds.confirm && !(await confirmDialog(ds.confirm, ds.confirmLabel, ds.dismissLabel))) return;
    const { method, url } = splitAction(button.dataset.action);
    const status = button.dataset.status;
    button.disabled = true;
    const result = await api(method, url, button.dataset.body ? JSON.parse(button.dataset.body) : undefined);
    button.disabled = false;
    if (!result.ok) { say(status || "#flash", errorMessage(result), "bad"); if (!status) alertFlash(errorMessage(result)); return; }
    const text = button.dataset.success ? fill(button.dataset.success, result.data) : "";
    if (button.dataset.refreshAfter) {
      say(status, text || "Done.", "good");
      refresh($(button.dataset.refreshAfter), true);
      return;
    }
    afterSuccess(button.dataset.then, result.data, text, status);
  }

  function alertFlash(text) {
    const box = $("#flash");
    if (!box) return;
    const p = document.createElement("p");
    p.className = "notice notice-bad";
    p.textContent = text;
    box.appendChild(p);
  }

  function showTest(target, result) {
    const box = typeof target === "string" ? $(target) : target;
    if (!box) return;
    box.hidden = false;
    box.classList.remove("is-good", "is-bad");
    if (result.ok && result.data) {
      box.classList.add(result.data.success ? "is-good" : "is-bad");
      box.textContent = `${result.data.success ? "Connection works" : "Connection failed"}: ${result.data.message}`;
      const technical = (result.data.details || {}).technical;
      if (technical) { // the plain words above; what the network said, one click away
        const more = document.createElement("details");
        const summary = document.createElement("summary");
        summary.textContent = "Technical details";
        const text = document.createElement("code");
        text.textContent = technical;
        more.append(summary, text);
        box.append(more);
      }
    } else {
      box.classList.add("is-bad");
      box.textContent = errorMessage(result);
    }
  }

  async function testConfig(button) {
    const form = $(button.dataset.testConfig);
    const resultBox = $("#test-result", form) || $("#test-result");
    clearErrors(form);
    say(statusOf(form), "", "");
    say(resultBox, "Testing…", "");
    resultBox.classList.remove("is-good", "is-bad");
    button.disabled = true;
    let result;
    if (form.dataset.testSavedUrl && !form.dataset.dirty) {
      result = await api("POST", form.dataset.testSavedUrl);
    } else if (form.dataset.testSavedUrl) {
      // unsaved changes, with the saved secrets left blank (refused with 422 if their destination changed)
      result = await api("POST", form.dataset.testSavedUrl, { config: serialize(form).config || {} });
    } else {
      result = await api("POST", form.dataset.testUrl, { config: serialize(form).config || {} });
    }
    button.disabled = false;
    if (result.status === 422) {
      const details = (result.data.error || {}).details || {};
      const unplaced = showErrors(form, details);
      say(resultBox, "", "");
      summarize(form, ["Fix the fields marked below before testing.", ...unplaced].join(" "));
      return;
    }
    showTest(resultBox, result);
  }

  async function testSaved(button) {
    const box = $(button.dataset.result);
    say(box, "Testing…", "");
    button.disabled = true;
    const result = await api("POST", button.dataset.testSaved);
    button.disabled = false;
    if (result.ok && result.data) {
      say(box, `${result.data.success ? "Connection works" : "Connection failed"}: ${result.data.message}`, result.data.success ? "good" : "bad");
    } else {
      say(box, errorMessage(result), "bad");
    }
  }

  async function copy(button) {
    const source = $(button.dataset.copy);
    const text = "value" in source && source.tagName !== "CODE" ? source.value : source.textContent;
    let ok = false;
    try { await navigator.clipboard.writeText(text); ok = true; } catch (err) {
      if (source.select) { source.select(); ok = document.execCommand("copy"); }
    }
    const status = $("#copy-status") || $("#flash");
    say(status, ok ? "Copied to the clipboard." : "Select the text and copy it.", ok ? "good" : "bad");
  }

  function addRow(button) {
    const editor = button.closest("[data-kind]");
    const template = $("template[data-row-template]", editor);
    const body = $("[data-rows-body]", editor);
    body.appendChild(template.content.cloneNode(true));
    const inputs = $$("[data-row]", body);
    const first = $("input, select", inputs[inputs.length - 1]);
    if (first) first.focus();
  }

  function removeRow(button) {
    const row = button.closest("[data-row]");
    const editor = button.closest("[data-kind]");
    const form = button.closest("form");
    row.remove();
    if (form) form.dataset.dirty = "1";
    const add = $("[data-add-row]", editor);
    if (add) add.focus();
  }

  document.addEventListener("click", (event) => {
    const target = event.target.closest("button, [data-open-dialog]");
    if (!target) return;
    const ds = target.dataset;
    if (ds.action) { event.preventDefault(); runAction(target); }
    else if (ds.testConfig !== undefined) { event.preventDefault(); testConfig(target); }
    else if (ds.testSaved) { event.preventDefault(); testSaved(target); }
    else if (ds.copy) { event.preventDefault(); copy(target); }
    else if (ds.addRow !== undefined) { event.preventDefault(); addRow(target); }
    else if (ds.removeRow !== undefined) { event.preventDefault(); removeRow(target); }
    else if (ds.openDialog) {
      event.preventDefault();
      const dialog = document.getElementById(ds.openDialog);
      dialog.showModal();
      const first = $("input:not([type=hidden]), select, textarea", dialog);
      if (first) first.focus();
    } else if (ds.closeDialog !== undefined) { event.preventDefault(); target.closest("dialog").close(); }
  });

  // ---- toggles: a checkbox or select that PATCHes one field at once -------------------------------

  document.addEventListener("change", async (event) => {
    const input = event.target.closest("[data-toggle]");
    if (!input) return;
    const { method, url } = splitAction(input.dataset.toggle);
    const value = input.type === "checkbox" ? input.checked : input.value;
    const previous = input.type === "checkbox" ? !input.checked : input.dataset.previous;
    if (input.dataset.confirm && !(await confirmDialog(input.dataset.confirm, input.dataset.confirmLabel))) {
      if (input.type === "checkbox") input.checked = previous; else if (previous !== undefined) input.value = previous;
      return;
    }
    input.disabled = true;
    const result = await api(method, url, { [input.dataset.field]: value });
    input.disabled = false;
    if (result.ok) {
      say(input.dataset.status, `Saved: ${input.dataset.field.replace(/_/g, " ")} is now ${value === true ? "on" : value === false ? "off" : value}.`, "good");
      input.dataset.previous = value;
      const card = input.closest(".integration");
      if (card && input.type === "checkbox") card.classList.toggle("is-disabled", !value);
      if (input.dataset.status) offerGap($(input.dataset.status), `${url}/backfill`, result.data && result.data.gap, input);
    } else {
      if (input.type === "checkbox") input.checked = previous; else if (previous !== undefined) input.value = previous;
      say(input.dataset.status, errorMessage(result), "bad");
    }
  });

  // An integration switched back on: offer to send the submissions it missed while it was off (a backfill
  // at ``backfillUrl`` over that window); the offer sits after the ``status`` line, and focus goes back to
  // ``control`` once it is taken.
  function offerGap(status, backfillUrl, gap, control) {
    if (!status) return;
    const old = status.parentNode.querySelector("[data-gap-offer]");
    if (old) old.remove();
    if (!gap || !gap.submissions) return;
    const offer = document.createElement("div");
    offer.dataset.gapOffer = "";
    offer.className = "gap-offer";
    const n = gap.submissions;
    const count = gap.more ? `More than ${n}` : `${n}`;  // (counted up to a cap: the backfill sends them all)
    const text = document.createElement("p");
    text.textContent = `${count} submission${n === 1 && !gap.more ? "" : "s"} arrived while it was off.`;
    const send = document.createElement("button");
    send.type = "button";
    send.className = "btn btn-small btn-primary";
    send.textContent = `Send ${n === 1 && !gap.more ? "it" : gap.more ? "them" : `these ${n}`} now`;
    send.dataset.action = `POST ${backfillUrl}`;
    send.dataset.body = JSON.stringify({ since: gap.since, until: gap.until });
    send.dataset.status = `#${status.id}`;
    send.dataset.success = "Sending the submissions received while it was off (see Operations).";
    // one backfill per offer; the status line then tells how it went, and focus goes back to the switch
    send.addEventListener("click", () => { offer.hidden = true; if (control) control.focus(); }, { once: true });
    offer.append(text, send);
    status.after(offer);
  }

  // ---- the main menu on small screens: folded behind its Menu button (CSS shows the button there only) --

  const navToggle = $(".nav-toggle");
  if (navToggle) {
    const bar = navToggle.closest(".topbar");
    bar.classList.add("nav-collapsible");
    navToggle.hidden = false;
    navToggle.addEventListener("click", () => {
      const open = navToggle.getAttribute("aria-expanded") !== "true";
      navToggle.setAttribute("aria-expanded", String(open));
      bar.classList.toggle("nav-open", open);
    });
  }

  // ---- catalogue search ----------------------------------------------------------------------------

  function filterCatalogue() {
    const text = ($("[data-filter-text]") || {}).value || "";
    const category = ($("[data-filter-category]") || {}).value || "";
    const words = text.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    $$(".plugin-card").forEach((card) => {
      const match = (!category || card.dataset.category === category) && words.every((w) => card.dataset.search.includes(w));
      card.hidden = !match;
      if (match) shown++;
    });
    const empty = $("[data-catalogue-empty]");
    if (empty) empty.hidden = shown > 0;
    say("#catalogue-count", `${shown} integration${shown === 1 ? "" : "s"} shown.`, "");
  }

  document.addEventListener("input", (event) => { if (event.target.matches("[data-filter-text]")) filterCatalogue(); });
  document.addEventListener("change", (event) => { if (event.target.matches("[data-filter-category]")) filterCatalogue(); });

  // ---- automatic refresh while jobs are pending ----------------------------------------------------

  const REFRESH_MS = 2000;

  async function refresh(region, force) {
    if (!region || !region.dataset.refresh) return;
    if (!force && (document.hidden || region.contains(document.activeElement))) return;
    let resp;
    try { resp = await fetch(region.dataset.refresh, { credentials: "same-origin" }); } catch (err) { return; }
    if (!resp.ok) return;
    const holder = document.createElement("div");
    holder.innerHTML = await resp.text();
    // A fragment, or a whole page holding the region.
    const fresh = holder.querySelector(`#${CSS.escape(region.id)}`) || holder.firstElementChild;
    if (fresh && fresh.id === region.id) { region.replaceWith(fresh); schedule(fresh); }
  }

  function schedule(region) {
    if (!region || region.hasAttribute("data-live")) return; // data.js keeps those live
    if (!$("[data-pending]", region) && !region.matches("[data-pending]")) return;
    setTimeout(() => {
      const current = document.getElementById(region.id);
      if (current) refresh(current, false).then(() => { if (document.getElementById(region.id) === current) schedule(current); });
    }, REFRESH_MS);
  }

  window.fhAdmin = { api, confirmDialog, refresh, say, errorMessage, serialize, showErrors, clearErrors, summarize };

  document.addEventListener("DOMContentLoaded", () => {
    showFlash();
    $$("[data-refresh]").forEach(schedule);
    $$("select[data-toggle]").forEach((s) => { s.dataset.previous = s.value; });
    if ($("[data-filter-text]")) filterCatalogue();
  });
})();
