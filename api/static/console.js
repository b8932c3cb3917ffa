// crowdgate console: progressive enhancements only; every page works without this file.
(function () {
  'use strict';

  // Ask before destructive actions (forms with data-confirm).
  document.addEventListener('submit', function (e) {
    var msg = e.target.getAttribute && e.target.getAttribute('data-confirm');
    if (msg && !window.confirm(msg)) {
      e.preventDefault();
    }
  }, true);

  // Copy buttons: data-copy names the element whose text is copied.
  document.querySelectorAll('[data-copy]').forEach(function (b) {
    b.hidden = false;
    b.addEventListener('click', function () {
      var el = document.getElementById(b.getAttribute('data-copy'));
      if (!el || !navigator.clipboard) { return; }
      navigator.clipboard.writeText(el.textContent).then(function () {
        var t = b.textContent;
        b.textContent = 'Copied';
        setTimeout(function () { b.textContent = t; }, 1500);
      });
    });
  });

  // Live sync progress: poll the directory's progress while a run is going on, then reload the
  // page so the run history shows the finished run.
  var box = document.querySelector('[data-progress-url]');
  if (!box) { return; }
  var url = box.getAttribute('data-progress-url');
  var running = box.getAttribute('data-running') === 'true';
  var waits = running ? 0 : (location.hash === '#sync' ? 10 : 0); // a run just requested may start late
  if (!running && waits === 0) { return; }
  var bar = box.querySelector('progress');
  var state = box.querySelector('[data-field=state]');
  var phase = box.querySelector('[data-field=phase]');
  var count = box.querySelector('[data-field=count]');
  var seen = running;

  function show(p) {
    box.hidden = false;
    if (p.running) {
      state.textContent = 'Synchronising';
      state.className = 'badge running';
    }
    phase.textContent = p.phase || '';
    if (p.total > 0) {
      bar.max = 100;
      bar.value = p.percent;
      count.textContent = p.done + ' of ' + p.total;
    } else {
      bar.removeAttribute('value');
      count.textContent = p.message || (p.done ? p.done + ' objects read' : '');
    }
  }

  function tick() {
    fetch(url, { headers: { 'Accept': 'application/json' }, credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        if (p.running) {
          seen = true;
          show(p);
          setTimeout(tick, 700);
          return;
        }
        if (seen) {
          state.textContent = p.error ? 'Failed' : 'Finished';
          state.className = 'badge ' + (p.error ? 'error' : 'ok');
          if (!p.error) { bar.max = 100; bar.value = 100; }
          phase.textContent = p.error || 'done';
          box.setAttribute('data-finished', 'true');
          setTimeout(function () { location.replace(location.pathname + '#runs'); location.reload(); }, 900);
          return;
        }
        if (--waits > 0) { setTimeout(tick, 500); }
      })
      .catch(function () { setTimeout(tick, 2000); });
  }
  tick();
})();
