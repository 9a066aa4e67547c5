// The content and media libraries' script. Everything here improves a
// page that works without it: the composer's Insert menu (the library
// page shows the same texts to copy) and uploads of dropped files, one
// request each with its progress (the form sends them all at once).
(function () {
  "use strict";

  function csrf(form) {
    var input = form.querySelector('input[name="csrf_token"]');
    return input ? input.value : "";
  }

  // --- the composer's Insert menu ---

  function insertAtCursor(area, text) {
    var start = area.selectionStart, end = area.selectionEnd, value = area.value;
    var before = value.slice(0, start), after = value.slice(end);
    // Keep words apart: a space before and after the inserted text
    // unless the text already meets white space there.
    if (before && !/\s$/.test(before)) { text = " " + text; }
    if (after && !/^\s/.test(after)) { text = text + " "; }
    area.value = before + text + after;
    var at = before.length + text.length;
    area.focus();
    area.setSelectionRange(at, at);
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function setupInsert(box) {
    var area = document.getElementById("compose-text");
    if (!area || !window.fetch) { return; }
    fetch(box.getAttribute("data-library") + "?limit=200", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data || !data.items || !data.items.length) { return; }
        var menu = document.createElement("details");
        menu.className = "insert-menu";
        var summary = document.createElement("summary");
        summary.textContent = "Insert";
        menu.appendChild(summary);
        var list = document.createElement("ul");
        data.items.forEach(function (it) {
          var li = document.createElement("li");
          if (it.kind === "template") {
            var a = document.createElement("a");
            a.href = box.getAttribute("data-compose").replace("ITEM", encodeURIComponent(it.id));
            a.textContent = "New post from template: " + it.name;
            li.appendChild(a);
          } else {
            var b = document.createElement("button");
            b.type = "button";
            b.className = "btn btn-ghost btn-sm";
            b.textContent = (it.kind === "hashtags" ? "# " : "") + it.name;
            b.title = it.body;
            b.addEventListener("click", function () { insertAtCursor(area, it.body); menu.open = false; });
            li.appendChild(b);
          }
          list.appendChild(li);
        });
        menu.appendChild(list);
        box.insertBefore(menu, box.firstChild);
      })
      .catch(function () { /* the link to the library stays */ });
  }

  // --- uploads with progress ---

  function problemOf(xhr) {
    try {
      var e = JSON.parse(xhr.responseText).error;
      if (e.fields && e.fields.file) { return "File " + e.fields.file; }
      if (e.fields && e.fields.description) { return "Description " + e.fields.description; }
      return e.message;
    } catch (err) {
      return "the upload failed (" + xhr.status + ")";
    }
  }

  function uploadOne(form, file, row) {
    return new Promise(function (resolve) {
      var bar = row.querySelector("progress"), note = row.querySelector(".upload-note");
      var max = Number(form.getAttribute("data-max-bytes"));
      if (max && file.size > max) {
        note.textContent = "is larger than the limit; not sent";
        row.classList.add("upload-failed");
        resolve(false);
        return;
      }
      var data = new FormData();
      data.append("file", file, file.name);
      var desc = form.querySelector('input[name="description"]');
      if (desc && desc.value) { data.append("description", desc.value); }
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.getAttribute("data-api"));
      xhr.setRequestHeader("X-CSRF-Token", csrf(form));
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) { bar.value = e.loaded / e.total; }
      });
      xhr.addEventListener("load", function () {
        var ok = xhr.status === 201;
        bar.value = 1;
        note.textContent = ok ? "uploaded" : problemOf(xhr);
        row.classList.add(ok ? "upload-done" : "upload-failed");
        resolve(ok);
      });
      xhr.addEventListener("error", function () {
        note.textContent = "the connection failed";
        row.classList.add("upload-failed");
        resolve(false);
      });
      xhr.send(data);
    });
  }

  function uploadAll(form, files) {
    var list = document.getElementById("media-progress");
    list.textContent = "";
    var max = Number(form.getAttribute("data-max-files")) || 10;
    files = Array.prototype.slice.call(files, 0, max);
    // One at a time: a slow link shares nothing, and each bar means what it says.
    var chain = Promise.resolve(0);
    files.forEach(function (file) {
      var row = document.createElement("li");
      var name = document.createElement("span");
      name.textContent = file.name;
      var bar = document.createElement("progress");
      bar.max = 1;
      bar.value = 0;
      var note = document.createElement("span");
      note.className = "upload-note muted small";
      row.appendChild(name);
      row.appendChild(bar);
      row.appendChild(note);
      list.appendChild(row);
      chain = chain.then(function (n) { return uploadOne(form, file, row).then(function (ok) { return n + (ok ? 1 : 0); }); });
    });
    chain.then(function (n) {
      if (n > 0) {
        var done = document.createElement("li");
        var a = document.createElement("a");
        a.href = window.location.pathname;
        a.textContent = "Show the new files";
        done.appendChild(a);
        list.appendChild(done);
      }
    });
  }

  function setupUpload(form) {
    if (!window.FormData || !window.Promise) { return; }
    var input = form.querySelector('input[type="file"]');
    var zone = document.getElementById("media-drop");
    form.addEventListener("submit", function (e) {
      if (!input.files || !input.files.length) { return; } // the server says what is missing
      e.preventDefault();
      uploadAll(form, input.files);
      input.value = "";
    });
    ["dragenter", "dragover"].forEach(function (t) {
      zone.addEventListener(t, function (e) { e.preventDefault(); zone.classList.add("drop-active"); });
    });
    ["dragleave", "drop"].forEach(function (t) {
      zone.addEventListener(t, function () { zone.classList.remove("drop-active"); });
    });
    zone.addEventListener("drop", function (e) {
      e.preventDefault();
      if (e.dataTransfer && e.dataTransfer.files.length) { uploadAll(form, e.dataTransfer.files); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("compose-insert");
    if (box) { setupInsert(box); }
    var form = document.getElementById("media-upload");
    if (form) { setupUpload(form); }
  });
})();
