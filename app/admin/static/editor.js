// The integration editor: the choice between a plugin's ways to connect, "Generate" for secrets, the
// preview of what would be sent, and a warning before leaving with unsaved changes.
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
    input.focus();
    input.select();
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
    if (!result.ok) { admin.say(status, admin.errorMessage(result), "bad"); out.hidden = true; return; }
    const data = result.data;
    if (data.error) { admin.say(status, `It would fail: ${data.error}`, "bad"); out.hidden = true; return; }
    if (!data.preview) { admin.say(status, "This integration cannot show a preview.", ""); out.hidden = true; return; }
    $("code", out).textContent = JSON.stringify(data.preview, null, 2);
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
