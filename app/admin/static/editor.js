// The integration editor: the choice between a plugin's ways to connect, "Generate" for secrets (shown
// once, with a copy button), colours, the insert-field picker of templates, the preview of what would be
// sent (a picture rendered by the server), and a warning before leaving with unsaved changes.
"use strict";

(function () {
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  // ---- modes: one panel shown at a time ------------------------------------------------------------

  document.addEventListener("change", (event) => {
    const radio = event.target.closest("input[data-mode]");
    if (!radio) return;
    const section = radio.closest(".config-section");
    $$("[data-mode-panel]", section).forEach((panel) => { panel.hidden = panel.dataset.modePanel !== radio.value; });
    const form = radio.closest("form");
    if (form) form.dataset.dirty = "1";
  });

  // ---- generate a webhook secret (Standard Webhooks: whsec_ + base64 of 24 random bytes) ------------

  function generated(kind) {
    const bytes = new Uint8Array(24);
    crypto.getRandomValues(bytes);
    const b64 = btoa(String.fromCharCode(...bytes));
    return kind === "whsec" ? `whsec_${b64}` : b64;
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-generate]");
    if (!button) return;
    event.preventDefault();
    const input = $(button.dataset.target);
    input.type = "text"; // shown once, so it can be copied to the receiving side
    input.value = generated(button.dataset.generate);
    input.dispatchEvent(new Event("input", { bubbles: true }));
    const note = button.dataset.note && $(button.dataset.note);
    if (note) note.hidden = false; // "shown only now", with its Copy button
    input.focus();
    input.select();
  });

  // ---- colours: the hex beside the swatch ----------------------------------------------------------

  document.addEventListener("input", (event) => {
    const input = event.target.closest("[data-kind='color'] input[type=color]");
    if (!input) return;
    const hex = $("[data-color-hex]", input.closest("[data-kind='color']"));
    if (hex) hex.textContent = input.value;
  });

  // ---- insert field: a disclosure of the form's fields; a choice goes in at the input's cursor -------

  function closePicker(picker, focusToggle) {
    const toggle = $("[data-picker-toggle]", picker);
    $(".picker-panel", picker).hidden = true;
    toggle.setAttribute("aria-expanded", "false");
    if (focusToggle) toggle.focus();
  }

  function openPicker(picker) {
    $$("[data-field-picker]").forEach((other) => { if (other !== picker) closePicker(other, false); });
    const toggle = $("[data-picker-toggle]", picker);
    $(".picker-panel", picker).hidden = false;
    toggle.setAttribute("aria-expanded", "true");
    const first = $(".picker-item", picker);
    if (first) first.focus();
  }

  function insertAtCursor(input, text) {
    const start = input.selectionStart ?? input.value.length;
    const end = input.selectionEnd ?? start;
    input.focus();
    input.setRangeText(text, start, end, "end");
    input.dispatchEvent(new Event("input", { bubbles: true })); // unsaved changes
  }

  document.addEventListener("click", (event) => {
    const toggle = event.target.closest("[data-picker-toggle]");
    if (toggle) {
      event.preventDefault();
      const picker = toggle.closest("[data-field-picker]");
      if (toggle.getAttribute("aria-expanded") === "true") closePicker(picker, true); else openPicker(picker);
      return;
    }
    const item = event.target.closest("[data-insert]");
    if (item) {
      event.preventDefault();
      const picker = item.closest("[data-field-picker]");
      const input = $($("[data-picker-toggle]", picker).dataset.target);
      closePicker(picker, false);
      insertAtCursor(input, item.dataset.insert);
      return;
    }
    $$("[data-field-picker]").forEach((picker) => {
      if (!picker.contains(event.target) && !$(".picker-panel", picker).hidden) closePicker(picker, false);
    });
  });

  document.addEventListener("keydown", (event) => {
    const picker = event.target.closest && event.target.closest("[data-field-picker]");
    if (!picker || $(".picker-panel", picker).hidden) return;
    const items = $$(".picker-item", picker);
    const at = items.indexOf(event.target);
    if (event.key === "Escape") { event.preventDefault(); closePicker(picker, true); }
    else if (event.key === "ArrowDown" && at >= 0) { event.preventDefault(); items[(at + 1) % items.length].focus(); }
    else if (event.key === "ArrowUp" && at >= 0) { event.preventDefault(); items[(at - 1 + items.length) % items.length].focus(); }
    else if (event.key === "Home" && at >= 0) { event.preventDefault(); items[0].focus(); }
    else if (event.key === "End" && at >= 0) { event.preventDefault(); items[items.length - 1].focus(); }
    else if (event.key === "Tab" && at >= 0) closePicker(picker, false); // Tab leaves the list: to the input, or back to the button
  });

  // ---- preview -------------------------------------------------------------------------------------

  async function preview(box) {
    const admin = window.fhAdmin;
    const form = $(box.dataset.for);
    const status = $("#preview-status", box);
    const out = $("#preview-output", box);
    admin.clearErrors(form);
    admin.say(status, "Building the preview…", "");
    const body = {
      config: admin.serialize(form).config || {},
      form_id: box.dataset.formId,
      submission_id: $("#preview-submission", box).value || null,
    };
    if (box.dataset.configId) body.config_id = box.dataset.configId;
    const result = await admin.api("POST", box.dataset.previewUrl, body);
    if (result.status === 422) {
      const details = (result.data.error || {}).details || {};
      const unplaced = admin.showErrors(form, details);
      admin.summarize(form, ["Fix the fields marked below to see a preview.", ...unplaced].join(" "));
      admin.say(status, "Fix the settings marked above first.", "bad");
      out.hidden = true;
      return;
    }
    if (!result.ok || !result.data) { // (no JSON: the session ended and the login page answered)
      admin.say(status, result.data ? admin.errorMessage(result) : "The preview could not be loaded; reload the page.", "bad");
      out.hidden = true;
      return;
    }
    const data = result.data;
    if (data.error) { admin.say(status, `It would fail: ${data.error}`, "bad"); out.hidden = true; return; }
    if (!data.preview) { admin.say(status, "This integration cannot show a preview.", ""); out.hidden = true; return; }
    out.innerHTML = data.html; // rendered and escaped by the server (templates/admin/_preview.html)
    out.hidden = false;
    admin.say(status, data.sample ? "Built from a sample submission." : "Built from the chosen submission.", "good");
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-preview]");
    if (!button) return;
    event.preventDefault();
    preview(button.closest("[data-preview-url]"));
  });

  // ---- unsaved changes -----------------------------------------------------------------------------

  window.addEventListener("beforeunload", (event) => {
    if (!$("form[data-warn-unsaved][data-dirty='1']")) return;
    event.preventDefault();
    event.returnValue = "You have unsaved changes."; // browsers show their own "Leave site?" question
  });
})();
