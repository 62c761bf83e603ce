// Formhooks admin: conditions of an integration (a rule builder with a "would it match?" check), and
// operations (backfill, replay) with a count preview. Everything goes through the JSON API.
"use strict";

(function () {
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const csrf = () => ($('meta[name="csrf-token"]') || {}).content || "";

  async function call(spec, body) {
    const i = spec.indexOf(" ");
    const init = { method: spec.slice(0, i), credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRFToken": csrf() } };
    if (body !== undefined) init.body = JSON.stringify(body);
    try {
      const resp = await fetch(spec.slice(i + 1), init);
      let data = null;
      try { data = await resp.json(); } catch (err) { data = null; }
      return { ok: resp.ok, status: resp.status, data };
    } catch (err) {
      return { ok: false, status: 0, data: { error: { message: "The server could not be reached." } } };
    }
  }

  const message = (r) => (r.data && r.data.error && r.data.error.message) || `The request failed (HTTP ${r.status}).`;
  const details = (r) => (r.data && r.data.error && r.data.error.details) || {};

  function say(el, text, tone) {
    if (!el) return;
    el.textContent = text;
    el.dataset.tone = tone || "";
    el.hidden = !text;
  }

  // ---- conditions ----------------------------------------------------------------------------------

  const OPS = [
    ["equals", "equals"], ["not_equals", "does not equal"], ["contains", "contains"],
    ["starts_with", "starts with"], ["in", "is one of (comma-separated)"], ["gt", "is greater than"],
    ["gte", "is at least"], ["lt", "is less than"], ["lte", "is at most"], ["is_empty", "is empty"],
    ["is_not_empty", "is not empty"], ["matches", "matches the pattern"],
  ];
  const UNARY = new Set(["is_empty", "is_not_empty"]);
  let uid = 0;

  function option(value, label, selected) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = label;
    o.selected = selected;
    return o;
  }

  function ruleRow(editor, rule, fields) {
    const li = document.createElement("li");
    li.className = "rule";
    li.dataset.rule = "";
    const n = ++uid;
    const field = document.createElement(fields.length ? "select" : "input");
    field.id = `rule-field-${n}`;
    field.dataset.ruleField = "";
    if (fields.length) fields.forEach((f) => field.appendChild(option(f, f, f === rule.field)));
    else field.value = rule.field || "";
    const op = document.createElement("select");
    op.id = `rule-op-${n}`;
    op.dataset.ruleOp = "";
    OPS.forEach(([v, l]) => op.appendChild(option(v, l, v === (rule.op || "equals"))));
    const value = document.createElement("input");
    value.id = `rule-value-${n}`;
    value.dataset.ruleValue = "";
    value.value = Array.isArray(rule.value) ? rule.value.join(", ") : (rule.value ?? "");
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "btn btn-small btn-quiet";
    remove.textContent = "Remove";
    remove.addEventListener("click", () => { li.remove(); });
    const labels = [["Field", field], ["Comparison", op], ["Value", value]].map(([text, control]) => {
      const wrap = document.createElement("span");
      wrap.className = "rule-part";
      const label = document.createElement("label");
      label.htmlFor = control.id;
      label.className = "sr-only";
      label.textContent = text;
      wrap.append(label, control);
      return wrap;
    });
    const valueWrap = labels[2];
    const sync = () => { valueWrap.hidden = UNARY.has(op.value); };
    op.addEventListener("change", sync);
    sync();
    const error = document.createElement("p");
    error.className = "field-error";
    error.hidden = true;
    error.dataset.ruleError = "";
    li.append(...labels, remove, error);
    return li;
  }

  function groupRow(editor, group, fields) {
    const li = document.createElement("li");
    li.className = "rule-group";
    li.dataset.group = "";
    const n = ++uid;
    const head = document.createElement("div");
    head.className = "rule-group-head";
    const label = document.createElement("label");
    label.htmlFor = `group-match-${n}`;
    label.textContent = "A group where";
    const match = document.createElement("select");
    match.id = `group-match-${n}`;
    match.dataset.groupMatch = "";
    match.append(option("any", "any of these match", group.match !== "all"), option("all", "all of these match", group.match === "all"));
    const add = document.createElement("button");
    add.type = "button";
    add.className = "btn btn-small";
    add.textContent = "Add a rule to the group";
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "btn btn-small btn-quiet";
    remove.textContent = "Remove the group";
    remove.addEventListener("click", () => li.remove());
    const list = document.createElement("ol");
    list.className = "rule-list";
    (group.rules || []).forEach((r) => list.appendChild(ruleRow(editor, r, fields)));
    add.addEventListener("click", () => list.appendChild(ruleRow(editor, {}, fields)));
    head.append(label, match, add, remove);
    li.append(head, list);
    return li;
  }

  function readRule(li) {
    const op = $("[data-rule-op]", li).value;
    const raw = $("[data-rule-value]", li).value.trim();
    const rule = { field: $("[data-rule-field]", li).value.trim(), op };
    if (UNARY.has(op)) return rule;
    rule.value = op === "in" ? raw.split(",").map((s) => s.trim()).filter(Boolean) : raw;
    return rule;
  }

  function read(editor) {
    const rules = $$(":scope > li", $("[data-rules]", editor)).map((li) => (
      li.dataset.group !== undefined
        ? { match: $("[data-group-match]", li).value, rules: $$(":scope > ol > li", li).map(readRule) }
        : readRule(li)));
    if (!rules.length) return null;
    return { match: $("[data-cond-match]", editor).value, rules, on_edit: $("[data-cond-on-edit]", editor).value };
  }

  // "rules.1.rules.0.value" -> the rule's error slot
  function showRuleErrors(editor, errors) {
    $$("[data-rule-error]", editor).forEach((el) => say(el, ""));
    const rest = [];
    Object.entries(errors).forEach(([path, texts]) => {
      const parts = path.split(".");
      let node = $("[data-rules]", editor);
      let li = null;
      for (let i = 0; i + 1 < parts.length && parts[i] === "rules"; i += 2) {
        li = $$(":scope > li", node)[Number(parts[i + 1])];
        if (!li) break;
        node = $(":scope > ol", li) || li;
      }
      const slot = li && $(":scope > [data-rule-error]", li);
      if (slot) say(slot, [].concat(texts).join(" "), "bad");
      else rest.push([].concat(texts).join(" "));
    });
    return rest;
  }

  function initConditions(editor) {
    const fields = JSON.parse(editor.dataset.fields || "[]");
    const saved = JSON.parse(editor.dataset.conditions || "{}");
    const list = $("[data-rules]", editor);
    $("[data-cond-match]", editor).value = saved.match || "all";
    $("[data-cond-on-edit]", editor).value = saved.on_edit || "always";
    (saved.rules || []).forEach((r) => list.appendChild(r.rules ? groupRow(editor, r, fields) : ruleRow(editor, r, fields)));
    $("[data-add-rule]", editor).addEventListener("click", () => {
      const row = ruleRow(editor, {}, fields);
      list.appendChild(row);
      $("select, input", row).focus();
    });
    $("[data-add-group]", editor).addEventListener("click", () => list.appendChild(groupRow(editor, { match: "any", rules: [{}] }, fields)));
    const status = $(".form-status", editor);
    const result = $("[data-check-result]", editor);
    const topError = $('[data-error-for="conditions"]', editor);

    async function check() {
      say(status, "Checking…");
      const r = await call(`POST ${editor.dataset.check}`, { conditions: read(editor) });
      say(topError, "");
      if (!r.ok) {
        const rest = r.status === 422 ? showRuleErrors(editor, details(r).conditions || {}) : [];
        say(status, r.status === 422 ? "Fix the rules marked above." : message(r), "bad");
        if (rest.length) say(topError, rest.join(" "), "bad");
        return;
      }
      showRuleErrors(editor, {});
      say(status, "");
      result.textContent = "";
      const head = document.createElement("p");
      head.textContent = r.data.checked
        ? `Matches ${r.data.matched} of the ${r.data.checked} most recent submissions.`
        : "The form has no submissions to check against yet.";
      result.appendChild(head);
      if (r.data.message) {
        const note = document.createElement("p");
        note.textContent = r.data.message;
        result.appendChild(note);
      }
      if (r.data.items.length) {
        const ul = document.createElement("ul");
        ul.className = "match-list";
        r.data.items.forEach((item) => {
          const li = document.createElement("li");
          const a = document.createElement("a");
          a.href = editor.dataset.submissionUrl.replace("__id__", item.submission_id);
          a.textContent = item.submission_id.slice(-8);
          li.append(item.matches ? "✓ would run for " : item.over_budget ? "✗ too long to check, would skip " : "✗ would skip ", a);
          li.className = item.matches ? "is-good" : "is-muted";
          ul.appendChild(li);
        });
        result.appendChild(ul);
      }
    }

    async function save(button) {
      button.disabled = true;
      say(status, "Saving…");
      const r = await call(editor.dataset.save, { conditions: read(editor) });
      button.disabled = false;
      say(topError, "");
      if (r.ok) { showRuleErrors(editor, {}); say(status, "Conditions saved.", "good"); return; }
      const rest = r.status === 422 ? showRuleErrors(editor, details(r).conditions || {}) : [];
      say(status, r.status === 422 ? "Fix the rules marked above." : message(r), "bad");
      if (rest.length) say(topError, rest.join(" "), "bad");
    }

    $("[data-check-conditions]", editor).addEventListener("click", check);
    const saveButton = $("[data-save-conditions]", editor);
    if (saveButton) saveButton.addEventListener("click", () => save(saveButton));
  }

  // ---- operations: count preview, start ------------------------------------------------------------

  function readOperation(form) {
    const body = {};
    $$("[data-name]", form).forEach((wrapper) => {
      const name = wrapper.dataset.name;
      const kind = wrapper.dataset.kind;
      const boxes = $$("input[type=checkbox]", wrapper);
      if (kind === "checkbox") { body[name] = boxes[0].checked; return; }
      if (boxes.length) { body[name] = boxes.filter((b) => b.checked).map((b) => b.value); return; }
      const input = $("input, select", wrapper);
      if (!input.value) return;
      // datetime-local is the viewer's wall-clock time; the API takes an instant.
      body[name] = kind === "local-time" ? new Date(input.value).toISOString() : input.value;
    });
    return body;
  }

  function placeErrors(form, errors) {
    $$("[data-error-for]", form).forEach((el) => say(el, ""));
    const rest = [];
    Object.entries(errors).forEach(([name, texts]) => {
      const slot = $(`[data-error-for="${CSS.escape(name)}"]`, form);
      const text = [].concat(texts).join(" ");
      if (slot) say(slot, text, "bad"); else rest.push(text);
    });
    return rest;
  }

  async function runOperation(form, preview) {
    const status = $(".form-status", form);
    const count = $(".operation-count", form);
    say(status, preview ? "Counting…" : "Starting…");
    const r = await call(form.dataset.operation, { ...readOperation(form), preview });
    if (!r.ok) {
      const rest = r.status === 422 ? placeErrors(form, details(r)) : [];
      say(status, [r.status === 422 ? "Fix the fields marked above." : message(r), ...rest].join(" "), "bad");
      return;
    }
    placeErrors(form, {});
    if (preview) {
      // The engine counts in the background (it may be a large form): follow the preview operation.
      const url = form.dataset.operationUrl.replace("__id__", r.data.id);
      let op = r.data;
      for (let i = 0; i < 600 && op.status === "running"; i++) {
        await new Promise((done) => setTimeout(done, i < 10 ? 200 : 1000));
        const polled = await call(`GET ${url}`);
        if (!polled.ok) { say(status, message(polled), "bad"); return; }
        op = polled.data;
      }
      say(status, "");
      if (op.status === "completed") say(count, `${op.total} would be sent.`, "good");
      else say(count, op.error || `The count ${op.status}.`, "bad");
      return;
    }
    try { sessionStorage.setItem("fh-flash", "Started: its progress is below."); } catch (err) { /* */ }
    const then = form.dataset.then || "reload";
    if (then.startsWith("go:")) location.assign(then.slice(3)); else location.reload();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $$("[data-conditions-editor]").forEach(initConditions);
    $$("form[data-operation]").forEach((form) => {
      form.addEventListener("submit", (event) => { event.preventDefault(); runOperation(form, false); });
      const preview = $("[data-count]", form);
      if (preview) preview.addEventListener("click", () => runOperation(form, true));
    });
  });
})();
