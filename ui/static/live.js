// Live updates (ui/live.py): on a page with an element carrying data-live-entity (list views,
// kanban boards; the calendar names several entities, comma separated), listen to /app/events
// for them and, when other people change their records, show "N records changed - refresh"
// (and mark the changed cards of a board).
// The stream carries only entity, id, version and kind; the page re-reads by reloading.
(function () {
  "use strict";
  var root = document.querySelector("[data-live-entity]");
  if (!root || !window.EventSource) { return; }
  var entity = root.getAttribute("data-live-entity");
  var entities = entity.split(","); // the calendar listens to several ("activity,task")
  var changed = {};
  var missed = false;
  var timer = null;
  var source = null;
  var backoff = 30000;

  function banner() {
    var el = document.querySelector("[data-live-banner]");
    if (!el) {
      el = document.createElement("div");
      el.className = "live-banner alert alert-info d-none";
      el.setAttribute("role", "status");
      el.setAttribute("data-live-banner", "");
      root.parentNode.insertBefore(el, root);
    }
    return el;
  }

  function show() {
    timer = null;
    var ids = Object.keys(changed).filter(function (id) {
      var card = root.querySelector('[data-card="' + CSS.escape(id) + '"]');
      if (!card) { return true; }
      // our own move: the card already has this version (board.js set it)
      if (parseInt(card.getAttribute("data-version"), 10) >= changed[id]) { delete changed[id]; return false; }
      if (card.classList.contains("kanban-moving")) { return false; } // decided when the move ends
      card.classList.add("kanban-changed");
      return true;
    });
    if (!ids.length && !missed) { return; }
    var el = banner();
    el.textContent = "";
    var words = missed ? "Many records changed." : (ids.length === 1 ? "1 record changed." : ids.length + " records changed.");
    el.appendChild(document.createTextNode(words + " "));
    var link = document.createElement("a");
    link.href = window.location.href;
    link.className = "alert-link";
    link.textContent = "Refresh";
    el.appendChild(link);
    el.classList.remove("d-none");
  }

  function later() {
    if (!timer) { timer = window.setTimeout(show, 800); } // batch a burst, let our own move settle
  }

  function connect() {
    source = new EventSource("/app/events?entity=" + encodeURIComponent(entity));
    source.addEventListener("change", function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (entities.indexOf(data.entity) < 0) { return; }
      changed[data.id] = Math.max(changed[data.id] || 0, data.version || 0);
      later();
    });
    source.addEventListener("missed", function () { missed = true; later(); });
    source.addEventListener("open", function () { backoff = 30000; });
    // the server ends each stream after a while; EventSource reconnects by itself. When it
    // gives up (the server refused: signed out, or too many streams), try again later.
    source.addEventListener("error", function () {
      if (source.readyState === EventSource.CLOSED) {
        window.setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 600000);
      }
    });
  }

  connect();
})();
