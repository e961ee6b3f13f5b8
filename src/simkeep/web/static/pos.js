// The counter's sales: a sale's form is sent with fetch and, when the connection drops,
// sent again with the same idempotency key (the server makes one sale whatever arrives
// twice), waiting a little longer each time; then the server is asked whether a sale was
// made with that key. The clerk sees "sending…", "done — receipt …" or "NOT done".
// A refund's form is sent the same way and names where to ask (data-pos-ask).
// Without scripts the forms post as any form does. Also: the Print buttons.
(function () {
  "use strict";
  var WAITS = [500, 1000, 2000, 4000]; // milliseconds before each retry

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      window.print();
    });
  });

  document.querySelectorAll("form[data-pos-sale]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (form.dataset.busy === "true") {
        return;
      }
      form.dataset.busy = "true";
      lock(form, true);
      say(form, "sending");
      send(form, new FormData(form), 0);
    });
  });

  function send(form, body, attempt) {
    fetch(form.action, {
      method: "POST",
      body: body,
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    })
      .then(function (response) {
        if (response.status >= 500) {
          throw new Error("server " + response.status);
        }
        return response.json().then(function (answer) {
          if (answer.done) {
            done(form, answer);
          } else {
            refused(form, answer.message || "");
          }
        });
      })
      .catch(function () {
        if (attempt < WAITS.length) {
          say(form, "retrying");
          window.setTimeout(function () {
            send(form, body, attempt + 1);
          }, WAITS[attempt]);
        } else {
          ask(form, body.get("key"));
        }
      });
  }

  // After the last retry: did a sale (or a refund) with this key go through after all?
  function ask(form, key) {
    var where = form.dataset.posAsk || "/pos/sales";
    fetch(where + "?key=" + encodeURIComponent(key), {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    })
      .then(function (response) {
        return response.json();
      })
      .then(function (answer) {
        if (answer.found) {
          done(form, answer);
        } else {
          refused(form, "");
        }
      })
      .catch(function () {
        say(form, "unknown");
        form.dataset.busy = "false";
      });
  }

  function done(form, answer) {
    var status = statusOf(form);
    status.textContent = status.dataset.done + " " + answer.receipt_no + " ";
    var link = document.createElement("a");
    link.href = answer.url;
    link.textContent = status.dataset.open;
    status.appendChild(link);
    status.className = "pos-status pos-status--done";
    status.hidden = false;
    link.focus();
  }

  function refused(form, message) {
    var status = statusOf(form);
    status.textContent = status.dataset.notDone + (message ? " " + message : "");
    status.className = "pos-status pos-status--failed";
    status.hidden = false;
    form.dataset.busy = "false";
    lock(form, false);
  }

  function say(form, what) {
    var status = statusOf(form);
    status.textContent = status.dataset[what];
    status.className = "pos-status pos-status--" + what;
    status.hidden = false;
  }

  function lock(form, locked) {
    form.querySelectorAll("button[type=submit]").forEach(function (button) {
      button.disabled = locked;
    });
  }

  function statusOf(form) {
    return form.querySelector(".pos-status");
  }
})();
