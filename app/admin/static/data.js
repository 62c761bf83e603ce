// Data pages: streamed exports with a progress bar, and lists that follow the server by themselves
// (polling with If-None-Match: an unchanged list costs a 304). No framework.
"use strict";

(function () {
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  // ---- exports -------------------------------------------------------------------------------------

  function newlines(bytes) {
    let n = 0;
    for (let i = 0; i < bytes.length; i++) if (bytes[i] === 10) n++;
    return n;
  }

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
    const estimate = Number(resp.headers.get("X-Export-Estimate")) || 0;
    const name = (/filename="([^"]+)"/.exec(resp.headers.get("Content-Disposition") || "") || [])[1] || "export";
    const reader = resp.body.getReader();
    const parts = [];
    let lines = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      lines += newlines(value);
      const rows = Math.max(0, lines - 1);
      if (estimate) { bar.max = estimate; bar.value = Math.min(rows, estimate); }
      count.textContent = estimate ? `${rows.toLocaleString()} of up to ${estimate.toLocaleString()} rows…` : `${rows.toLocaleString()} rows…`;
    }
    const rows = Math.max(0, lines - 1);
    bar.max = 1; bar.value = 1;
    count.textContent = `Exported ${rows.toLocaleString()} row${rows === 1 ? "" : "s"}.`;
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
