// The composer's per-network counts, checks and previews. The page only
// shows what the server answers (POST compose/check): lengths are counted
// there, with the networks' own counting, so the page and a save never
// disagree. Without JavaScript the form still works: a save shows the
// same errors beside the fields.
(function () {
  'use strict';
  var form = document.getElementById('compose-form');
  var box = document.getElementById('compose-variants');
  if (!form || !box || !window.fetch) return;
  var url = box.getAttribute('data-check');
  var timer = null;
  var seq = 0;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // linked renders text with its links clickable, never as HTML.
  function linked(text) {
    var p = el('p', 'preview-text');
    var re = /https?:\/\/[^\s<>"]+/g;
    var last = 0, m;
    while ((m = re.exec(text)) !== null) {
      p.appendChild(document.createTextNode(text.slice(last, m.index)));
      var a = el('a', '', m[0]);
      a.href = m[0];
      a.rel = 'noopener noreferrer';
      a.target = '_blank';
      p.appendChild(a);
      last = m.index + m[0].length;
    }
    p.appendChild(document.createTextNode(text.slice(last)));
    return p;
  }

  function render(res) {
    var shown = {};
    (res.networks || []).forEach(function (n) {
      shown[n.network] = true;
      var count = box.querySelector('[data-count-for="' + n.network + '"]');
      if (count) {
        count.textContent = n.limit ? n.count + ' / ' + n.limit : String(n.count);
        count.classList.toggle('over', n.limit > 0 && n.count > n.limit);
      }
      var out = box.querySelector('[data-preview-for="' + n.network + '"]');
      if (!out) return;
      out.textContent = '';
      var errors = Object.keys(n.errors || {});
      if (errors.length) {
        var ul = el('ul', 'field-error');
        errors.sort().forEach(function (f) { ul.appendChild(el('li', '', f + ': ' + n.errors[f])); });
        out.appendChild(ul);
      }
      out.appendChild(el('p', 'muted small', 'Preview on ' + n.label));
      out.appendChild(linked(n.preview.text));
      if (n.preview.media_ids.length) {
        var media = el('div', 'media-pick');
        n.preview.media_ids.forEach(function (id) {
          var img = el('img');
          img.src = '/api/v1/media/' + encodeURIComponent(id) + '/content';
          img.alt = '';
          img.width = 56;
          img.height = 56;
          media.appendChild(img);
        });
        out.appendChild(media);
      }
      n.preview.thread.forEach(function (t, i) {
        out.appendChild(el('p', 'muted small', 'Thread, part ' + (i + 2)));
        out.appendChild(linked(t));
      });
      if (n.preview.first_comment) {
        out.appendChild(el('p', 'muted small', 'First comment'));
        out.appendChild(linked(n.preview.first_comment));
      }
    });
    // Only the chosen accounts' networks have a section; with none
    // chosen, all stay (the user may be about to choose).
    var any = Object.keys(shown).length > 0;
    Array.prototype.forEach.call(box.querySelectorAll('details[data-network]'), function (d) {
      d.hidden = any && !shown[d.getAttribute('data-network')];
    });
  }

  function check() {
    var mine = ++seq;
    var body = new URLSearchParams(new FormData(form));
    fetch(url, { method: 'POST', body: body, credentials: 'same-origin',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (res) { if (res && mine === seq) render(res); })
      .catch(function () { /* the save still checks */ });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(check, 400);
  }
  form.addEventListener('input', later);
  form.addEventListener('change', later);
  check();
})();
