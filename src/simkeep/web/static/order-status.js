// The top-up status page refreshes itself: every two seconds it asks the server for the
// order's state and swaps in the new status when it changes, until the order stops waiting
// (credited, expired, failed). Without scripts, a <noscript> refresh does the same job.
(function () {
  "use strict";
  var region = document.getElementById("order-status");
  if (!region || region.dataset.waiting !== "true") {
    return;
  }
  var timer = window.setInterval(check, 2000);

  function check() {
    fetch(region.dataset.url, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (status) {
        if (!status) {
          return;
        }
        if (status.state !== region.dataset.state) {
          region.innerHTML = status.html;
          region.dataset.state = status.state;
        }
        if (!status.waiting) {
          window.clearInterval(timer);
          region.dataset.waiting = "false";
        }
      })
      .catch(function () {
        // Offline for a moment: the next tick asks again.
      });
  }
})();
