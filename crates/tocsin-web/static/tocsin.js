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

  // A live part of a page does not refresh under a person's hands: not
  // while any of its rows is selected or focus is inside it.
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var el = evt.detail && evt.detail.elt;
    if (!el || !el.hasAttribute || !el.hasAttribute("data-live")) return;
    if (el.querySelector("input[type=checkbox]:checked") || el.contains(document.activeElement)) {
      evt.preventDefault();
    }
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
