// Tocsin's one script. The pages work without it; it only adds comfort.
(function () {
  "use strict";
  // Times are shown in the browser's zone: tell the server which it is.
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("tz=" + encodeURIComponent(zone)) === -1) {
      document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (e) { /* no Intl: the server falls back to the configured zone */ }

  // A live part of a page refreshes without undoing what a person did in
  // it: ticked boxes stay ticked and the focused control keeps focus. It
  // does not refresh while someone types in it.
  var kept = {};
  function isLive(el) { return el && el.hasAttribute && el.hasAttribute("data-live"); }
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var el = evt.detail && evt.detail.elt;
    var active = document.activeElement;
    if (isLive(el) && el.contains(active) && /^(TEXTAREA|SELECT)$|^text/.test(active.tagName === "INPUT" ? active.type : active.tagName)) {
      evt.preventDefault();
    }
  });
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var el = evt.detail && evt.detail.target;
    if (!isLive(el) || !el.id) return;
    var active = document.activeElement;
    kept[el.id] = {
      ticked: Array.prototype.map.call(el.querySelectorAll("input[type=checkbox]:checked"), function (box) { return box.id; }),
      focus: el.contains(active) && active.id ? active.id : null
    };
  });
  // Right after the swap, in the same task that inserted the new rows: a
  // box never shows unticked in between (after settling, 20 ms later, it
  // flickered, and a test reading it in that gap saw it unticked).
  document.addEventListener("htmx:afterSwap", function () {
    Object.keys(kept).forEach(function (id) {
      var state = kept[id];
      delete kept[id];
      state.ticked.forEach(function (boxId) {
        var box = document.getElementById(boxId);
        if (box) box.checked = true;
      });
      var focus = state.focus && document.getElementById(state.focus);
      if (focus) focus.focus({ preventScroll: true });
    });
  });

  // Copy buttons need the clipboard, so they show only with this script.
  document.querySelectorAll("[data-copy]").forEach(function (b) { b.hidden = false; });

  // Copy buttons: <button data-copy="#id">.
  document.addEventListener("click", function (evt) {
    var button = evt.target.closest && evt.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    var text = source.value !== undefined ? source.value : source.textContent;
    navigator.clipboard.writeText(text.trim()).then(function () {
      var before = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = before; }, 1500);
    });
  });
})();
