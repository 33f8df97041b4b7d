// pgtide console: live refresh and confirmations. Plain JS, no build step.
(function () {
  "use strict";
  var REFRESH_MS = 5000;

  // Ask before a destructive button's form is sent.
  document.addEventListener("submit", function (event) {
    var button = event.submitter || event.target.querySelector("button[data-confirm]");
    var question = button && button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // Every few seconds, fetch this page again and swap the live part, unless the user is typing in
  // it or turned refresh off. Forms in the new part carry their own CSRF tokens.
  function refresh() {
    var toggle = document.getElementById("live-refresh");
    var live = document.getElementById("live");
    if (!live || (toggle && !toggle.checked) || document.hidden) return;
    var active = document.activeElement;
    if (active && live.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "refresh" } })
      .then(function (response) {
        if (response.redirected || !response.ok) return null;
        return response.text();
      })
      .then(function (text) {
        if (!text) return;
        var next = new DOMParser().parseFromString(text, "text/html").getElementById("live");
        if (next) live.innerHTML = next.innerHTML;
      })
      .catch(function () { /* the next tick tries again */ });
  }
  window.setInterval(refresh, REFRESH_MS);
})();
