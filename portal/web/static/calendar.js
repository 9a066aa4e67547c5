// The calendar's drag to reschedule. A chip with data-move-url can be
// dropped on another day ([data-date]); the move is posted with the
// session's CSRF token and the calendar's zone, and Portal keeps the
// post's time of day in that zone. Without this script every chip is
// still a link to its edit page.
(function () {
  "use strict";
  var cal = document.getElementById("calendar");
  if (!cal) return;
  var status = document.getElementById("calendar-status");
  var dragged = null;

  function say(msg, ok) {
    if (!status) return;
    status.textContent = msg;
    status.className = "cal-status " + (ok ? "is-ok" : "is-error");
  }
  function dayOf(el) { return el && el.closest ? el.closest("[data-date]") : null; }
  function clearOver() {
    cal.querySelectorAll(".is-over").forEach(function (d) { d.classList.remove("is-over"); });
  }

  cal.addEventListener("dragstart", function (e) {
    var chip = e.target.closest && e.target.closest(".cal-chip[data-move-url]");
    if (!chip) return;
    dragged = chip;
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", chip.getAttribute("data-post-id"));
    chip.classList.add("is-dragging");
  });
  cal.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("is-dragging");
    dragged = null;
    clearOver();
  });
  cal.addEventListener("dragover", function (e) {
    var day = dayOf(e.target);
    if (!day || !dragged) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "move";
    if (!day.classList.contains("is-over")) {
      clearOver();
      day.classList.add("is-over");
    }
  });
  cal.addEventListener("drop", function (e) {
    var day = dayOf(e.target);
    var chip = dragged;
    if (!day || !chip) return;
    e.preventDefault();
    clearOver();
    if (dayOf(chip) === day) return;
    move(chip, day);
  });

  function move(chip, day) {
    var token = cal.getAttribute("data-csrf");
    var body = new URLSearchParams();
    body.set("day", day.getAttribute("data-date"));
    body.set("zone", cal.getAttribute("data-zone"));
    body.set("csrf_token", token);
    chip.classList.add("is-saving");
    fetch(chip.getAttribute("data-move-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": token },
      body: body
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (js) { return { ok: res.ok, status: res.status, js: js }; });
    }).then(function (r) {
      chip.classList.remove("is-saving");
      if (!r.ok) {
        var err = (r.js && r.js.error) || {};
        var msg = (err.fields && err.fields.day) || err.message || ("the move was refused (" + r.status + ")");
        say("The post was not moved: " + msg, false);
        return;
      }
      var list = day.querySelector(".cal-chips");
      var item = chip.closest("li") || chip;
      if (list) list.appendChild(item);
      chip.setAttribute("data-status", r.js.status || chip.getAttribute("data-status"));
      var label = day.querySelector(".cal-day-head .sr-only, .cal-list-head");
      var time = chip.querySelector(".cal-time");
      say("Moved to " + (label ? label.textContent : day.getAttribute("data-date")) +
        (time ? " at " + time.textContent : "") + ".", true);
    }).catch(function () {
      chip.classList.remove("is-saving");
      say("The post was not moved: Herald could not be reached. Try again.", false);
    });
  }
})();
