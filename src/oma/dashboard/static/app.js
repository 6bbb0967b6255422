// oma dashboard: live progress over Server-Sent Events and the source switch of the submit form.
// Written for oma; Apache-2.0 like the rest of the project (see LICENSE at the repository root).
// No inline script anywhere: the page's Content-Security-Policy allows only this file.
"use strict";

(function () {
  var FINISHED = { Succeeded: true, Failed: true, Cancelled: true };
  var MAX_STREAMS = 4; // browsers allow ~6 HTTP/1.1 connections per host; leave room for navigation
  var waiting = [];
  var open = 0;

  function describe(d) {
    var parts = [];
    if (d.phase === "Queued" && d.queuePosition) parts.push("#" + d.queuePosition + " in queue");
    if (d.percent !== null && d.percent !== undefined && !FINISHED[d.phase]) parts.push(Math.round(d.percent) + " %");
    if (d.fps) parts.push(d.fps.toFixed(0) + " fps");
    if (d.speed) parts.push(d.speed.toFixed(2) + "×");
    if (d.etaSeconds !== null && d.etaSeconds !== undefined && !FINISHED[d.phase]) parts.push("ETA " + Math.ceil(d.etaSeconds) + " s");
    if (d.failure) parts.push(d.failure);
    return parts.join(" · ");
  }

  function update(el, d) {
    var bar = el.querySelector("progress");
    var phase = el.querySelector("[data-phase]");
    var detail = el.querySelector("[data-detail]");
    if (d.percent !== null && d.percent !== undefined && d.percent >= bar.value) bar.value = d.percent;
    phase.textContent = d.phase;
    phase.className = "phase phase-" + d.phase.toLowerCase();
    detail.textContent = describe(d);
    el.setAttribute("data-phase-now", d.phase);
  }

  function follow(el) {
    open += 1;
    var source = new EventSource(el.getAttribute("data-events"));
    function handle(ev) {
      update(el, JSON.parse(ev.data));
    }
    source.addEventListener("progress", handle);
    source.addEventListener("end", function (ev) {
      handle(ev);
      source.close();
      open -= 1;
      el.removeAttribute("data-events");
      // The job page shows the player and downloads once the outputs exist.
      if (document.body.querySelector("[data-testid=job-title]")) window.location.reload();
      next();
    });
  }

  function next() {
    while (open < MAX_STREAMS && waiting.length) follow(waiting.shift());
  }

  function sourceSwitch() {
    var radios = document.querySelectorAll("input[name=source_kind]");
    function show() {
      var chosen = document.querySelector("input[name=source_kind]:checked");
      document.querySelectorAll("[data-source]").forEach(function (box) {
        box.hidden = !chosen || box.getAttribute("data-source") !== chosen.value;
      });
    }
    radios.forEach(function (r) { r.addEventListener("change", show); });
    if (radios.length) show();
  }

  document.addEventListener("DOMContentLoaded", function () {
    waiting = Array.prototype.slice.call(document.querySelectorAll("[data-events]"));
    next();
    sourceSwitch();
  });
})();
