// Dashboard page (ui/templates/dashboard.html). Figures over millions of records take a
// second or more to compute, so a stale dashboard, or one whose Refresh was asked for, shows
// the kept figures at once ("updating") while the server computes fresh ones behind
// (engine/dashboard_cache.py). This script asks the dashboard's API now and then whether
// they are there and then shows them; and it takes refresh=true out of the address, so
// reloading the page does not force another computation.
(function () {
  "use strict";
  var here = new URL(window.location.href);
  if (here.searchParams.has("refresh")) {
    here.searchParams.delete("refresh");
    window.history.replaceState(window.history.state, "", here.href);
  }
  var mark = document.querySelector("[data-as-of][data-poll]");
  if (!mark || !window.fetch) { return; }
  var url = mark.getAttribute("data-poll");
  var tries = 0;
  var LIMIT = 60; // about four minutes; then the page stays as it is ("updating", Refresh)

  function again(delay) {
    if (tries < LIMIT) { window.setTimeout(ask, delay); }
  }

  function ask() {
    tries += 1;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (reply) { return reply.ok ? reply.json() : null; })
      .then(function (board) {
        if (board && !board.stale) {
          window.location.replace(here.href); // the fresh figures, drawn by the server
          return;
        }
        again(Math.min(1000 * tries, 5000));
      })
      .catch(function () { again(5000); });
  }

  again(1000);
})();
