// Times in the viewer's time zone: absolute times (<time data-absolute>) are rewritten in it, every
// <time> gets its local absolute value as a tooltip, relative ones (<time data-relative>) tick, and
// filter forms send the zone (<input data-tz>) so "days" are the viewer's days.
"use strict";

(function () {
  const zone = (() => { try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (err) { return "UTC"; } })();
  const absolute = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
  });
  // In table columns: short, the zone is named in the column's tooltip.
  const compact = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });

  function relative(ms) {
    const seconds = Math.round((Date.now() - ms) / 1000);
    const future = seconds < 0;
    const s = Math.abs(seconds);
    if (s < 45) return future ? "in a few seconds" : "just now";
    for (const [size, unit] of [[86400, "d"], [3600, "h"], [60, "min"]]) {
      if (s >= size) {
        const n = Math.round(s / size);
        return future ? `in ${n} ${unit}` : `${n} ${unit} ago`;
      }
    }
    return "just now";
  }

  function localize(root) {
    (root || document).querySelectorAll("time[datetime]").forEach((el) => {
      const ms = Date.parse(el.getAttribute("datetime"));
      if (Number.isNaN(ms)) return;
      const text = absolute.format(new Date(ms));
      el.title = text;
      if (el.hasAttribute("data-absolute")) el.textContent = el.closest("td") ? compact.format(new Date(ms)) : text;
      else if (el.hasAttribute("data-relative")) el.textContent = relative(ms);
      else if (el.hasAttribute("data-when")) el.textContent = `${relative(ms)} (${text})`;
    });
  }

  function fillZones() {
    document.querySelectorAll("input[data-tz]").forEach((input) => { if (!input.value) input.value = zone; });
  }

  window.fhTimes = { localize, zone };
  // The server buckets days in the zone it was told (a cookie); a page drawn in another zone is redrawn once.
  function rememberZone() {
    const known = document.cookie.split("; ").some((c) => c === `fh_tz=${encodeURIComponent(zone)}`);
    document.cookie = `fh_tz=${encodeURIComponent(zone)}; path=/; max-age=31536000; SameSite=Lax`;
    const drawn = document.querySelector("[data-zone]");
    if (!known && drawn && drawn.dataset.zone !== zone && !new URLSearchParams(location.search).has("tz")) location.reload();
  }

  document.addEventListener("DOMContentLoaded", () => {
    rememberZone();
    fillZones();
    localize();
    // Relative times tick; regions replaced by the live refresh are localized as they arrive.
    setInterval(() => localize(), 15000);
    new MutationObserver((changes) => {
      changes.forEach((c) => c.addedNodes.forEach((n) => { if (n.nodeType === 1) localize(n); }));
    }).observe(document.body, { childList: true, subtree: true });
  });
})();
