// Herald's pages work without this script: every action is a plain form
// and every page is rendered by the server. The script only adds live
// updates (the bell's count, the post list) and small conveniences.
(function () {
  'use strict';

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  // A new workspace defaults to the browser's own time zone when the list
  // has it (the server's default is UTC).
  function defaultZone() {
    var sel = $('select[data-browser-zone]');
    if (!sel || !window.Intl) return;
    var zone;
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
    if (!zone) return;
    for (var i = 0; i < sel.options.length; i++) {
      if (sel.options[i].value === zone) { sel.value = zone; return; }
    }
  }

  // Counting characters as Mastodon does, near enough for a counter: every
  // link counts 23, a remote mention only its local part, and characters
  // are what people see (an emoji made of several code points is one).
  // The server checks for real when the post is sent.
  var linkRE = /https?:\/\/(?:\[[0-9a-f:.]+\]|[\p{L}\p{N}_-]+(?:\.[\p{L}\p{N}_-]+)+)(?::\d{1,5})?(?:[\/?#]\S*)?/giu;
  var mentionRE = /(^|[^\p{L}\p{N}_\/])@([a-z0-9_]+(?:[a-z0-9_.-]*[a-z0-9_])?)@[\p{L}\p{N}_.-]+[\p{L}\p{N}_]/giu;
  var segmenter = (window.Intl && Intl.Segmenter) ? new Intl.Segmenter() : null;

  function countChars(text) {
    text = text.replace(linkRE, function (url) {
      var trimmed = url.replace(/[.,:;!?'"\u2026]+$/, '');
      return 'x'.repeat(23) + url.slice(trimmed.length);
    });
    text = text.replace(mentionRE, '$1@$2');
    if (segmenter) {
      var n = 0;
      for (var it = segmenter.segment(text)[Symbol.iterator](), s = it.next(); !s.done; s = it.next()) n++;
      return n;
    }
    return Array.from(text).length;
  }

  function counter() {
    var ta = $('#compose-text');
    var out = $('#compose-count');
    if (!ta || !out) return;
    var limit = parseInt(ta.getAttribute('data-limit'), 10) || 0;
    function update() {
      var n = countChars(ta.value);
      out.textContent = limit ? n + ' / ' + limit : n + (n === 1 ? ' character' : ' characters');
      var over = limit > 0 && n > limit;
      out.classList.toggle('over', over);
      out.classList.toggle('near', !over && limit > 0 && n > limit * 0.9);
    }
    ta.addEventListener('input', update);
    update();
  }

  // "Publish now" needs no time: the time input is disabled and the button
  // says what will happen.
  function whenToggle() {
    var form = $('#compose-form');
    if (!form) return;
    var at = $('input[name=scheduled_at]', form);
    var button = $('button[type=submit]', form);
    var labels = { now: 'Publish now', draft: 'Save draft', queue: 'Add to queue', repeat: 'Schedule repeats' };
    function update() {
      var chosen = $('input[name=when]:checked', form);
      var when = chosen ? chosen.value : 'schedule';
      var noTime = when === 'now' || when === 'draft' || when === 'queue';
      if (at) {
        at.disabled = noTime;
        var box = at.closest('.schedule-field');
        if (box) box.classList.toggle('is-disabled', noTime);
      }
      // Each choice's own inputs show only while it is chosen.
      var extra = { repeat: '#compose-repeat', queue: '#compose-queue' };
      Object.keys(extra).forEach(function (k) {
        var el = $(extra[k], form);
        if (el) el.hidden = when !== k;
      });
      if (button) button.textContent = labels[when] || 'Schedule post';
    }
    form.addEventListener('change', function (e) { if (e.target.name === 'when') update(); });
    update();
  }

  // Forms that destroy something ask first; a sent form's buttons are
  // disabled so a double click does not send it twice.
  function forms() {
    document.addEventListener('submit', function (e) {
      var form = e.target;
      var question = form.getAttribute('data-confirm');
      if (question && !window.confirm(question)) { e.preventDefault(); return; }
      if (form.id === 'media-form' && !checkUpload(form)) { e.preventDefault(); return; }
      // After the browser has collected the form (and the clicked button's
      // value), not before.
      setTimeout(function () { $all('button[type=submit]', form).forEach(function (b) { b.disabled = true; }); }, 0);
    });
    // Coming back with the Back button shows the page as it was left.
    window.addEventListener('pageshow', function () {
      $all('button[type=submit]:disabled').forEach(function (b) { b.disabled = false; });
    });
  }

  // An upload over the limit is refused here rather than after sending it.
  function checkUpload(form) {
    var input = $('input[type=file]', form);
    var max = parseInt(form.getAttribute('data-max-bytes'), 10) || 0;
    var file = input && input.files && input.files[0];
    var old = $('.client-error', form);
    if (old) old.remove();
    if (!file || !max || file.size <= max) return true;
    var p = document.createElement('p');
    p.className = 'field-error client-error';
    p.id = 'media-file-client-error';
    p.textContent = 'This file is ' + (file.size / 1048576).toFixed(1) + ' MB; the limit is ' + (max / 1048576).toFixed(0) + ' MB.';
    input.closest('.field').appendChild(p);
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', p.id);
    input.focus();
    return false;
  }

  function copyButtons() {
    document.addEventListener('click', function (e) {
      var b = e.target.closest('[data-copy]');
      if (!b) return;
      var src = $(b.getAttribute('data-copy'));
      if (!src) return;
      src.select();
      var done = function () { b.textContent = 'Copied'; setTimeout(function () { b.textContent = 'Copy link'; }, 2000); };
      if (navigator.clipboard) {
        navigator.clipboard.writeText(src.value).then(done, function () { document.execCommand('copy'); done(); });
      } else {
        document.execCommand('copy');
        done();
      }
    });
  }

  // Times the server wrote in UTC are shown in the reader's own zone.
  function localTimes() {
    $all('time[data-local]').forEach(function (t) {
      var d = new Date(t.getAttribute('datetime'));
      if (!isNaN(d)) t.textContent = d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
    });
  }

  // The bell follows the live notification stream; anything that arrives
  // may have changed what the page shows.
  var countEl = null;
  function setCount(n) {
    if (!countEl || typeof n !== 'number') return;
    countEl.removeAttribute('data-unknown');
    countEl.textContent = String(n);
    countEl.classList.toggle('is-zero', n <= 0);
  }
  function changed() { document.dispatchEvent(new CustomEvent('herald:changed')); }

  function stream() {
    countEl = $('#notification-count');
    var url = document.body.getAttribute('data-stream');
    if (!url || !window.EventSource) return;
    var es = new EventSource(url);
    var seen = {};
    function unread(e) {
      try { setCount(JSON.parse(e.data).unread); } catch (err) { /* a malformed event changes nothing */ }
    }
    es.addEventListener('unread', unread);
    es.addEventListener('resync', function (e) { unread(e); changed(); });
    es.addEventListener('notification', function (e) {
      var id = null;
      try { id = JSON.parse(e.data).notificationId; } catch (err) { /* counted anyway */ }
      if (id) {
        if (seen[id]) return;
        seen[id] = true;
      }
      setCount((parseInt(countEl && countEl.textContent, 10) || 0) + 1);
      changed();
    });
    window.addEventListener('pagehide', function () { es.close(); });
  }

  // The post list reloads when the stream says something happened, and
  // otherwise checks now and then: often while a post is being published
  // or due within minutes, rarely when nothing is about to change. The
  // check is the fallback for a stream that is down or behind.
  function livePosts() {
    var region = $('#posts-region');
    if (!region) return;
    var status = $('#posts-status');
    var timer = null, busy = false, again = false, stopped = false, last = null;

    function list() { return $('#posts', region); }
    function interval() { var p = list(); return p && p.getAttribute('data-live') === 'true' ? 2500 : 30000; }
    function schedule(ms) { clearTimeout(timer); if (!stopped) timer = setTimeout(refresh, ms); }
    function statuses() {
      return $all('[data-post-id]', region).map(function (p) { return p.getAttribute('data-status'); }).join(',');
    }

    function refresh() {
      var p = list();
      if (!p || stopped) return;
      if (busy) { again = true; return; }
      if (document.hidden) { schedule(interval()); return; }
      busy = true;
      fetch(p.getAttribute('data-refresh-url'), { credentials: 'same-origin', headers: { Accept: 'text/html' }, cache: 'no-store' })
        .then(function (res) {
          if (res.status === 401 || res.status === 403 || res.status === 404) { stopped = true; return null; }
          return res.ok ? res.text() : null;
        })
        .then(function (html) {
          if (html === null || html === last) return;
          var before = statuses();
          last = html;
          region.innerHTML = html;
          if (status && statuses() !== before) status.textContent = 'The post list was updated.';
        })
        .catch(function () { /* the network blinked: try again later */ })
        .then(function () {
          busy = false;
          if (again) { again = false; schedule(300); } else { schedule(interval()); }
        });
    }

    document.addEventListener('herald:changed', function () { refresh(); });
    document.addEventListener('visibilitychange', function () { if (!document.hidden) refresh(); });
    schedule(interval());
  }

  function start() {
    document.documentElement.classList.add('js');
    defaultZone();
    counter();
    whenToggle();
    forms();
    copyButtons();
    localTimes();
    stream();
    livePosts();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
