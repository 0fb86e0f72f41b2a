// Kanban boards (ui/templates/board.html): drag a card to another column, or use its small
// "Move" form (shown when the card has the keyboard focus). Either way the move is posted as
// JSON to the board's move endpoint, which runs the workflow transition or updates the field
// (ui/boards.py). A refusal is shown on the card, and the card goes back where it was.
(function () {
  "use strict";
  var board = document.querySelector("[data-board]");
  if (!board || !board.hasAttribute("data-movable")) { return; }
  board.classList.add("js-board");
  var moveUrl = board.getAttribute("data-move-url");
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var dragged = null;

  function column(value) { return board.querySelector('[data-column="' + CSS.escape(value) + '"]'); }

  function setCount(col, delta) {
    var badge = col && col.querySelector("[data-count]");
    if (badge) { badge.textContent = String(Math.max(0, parseInt(badge.textContent, 10) + delta)); }
  }

  function refusal(card, message) {
    var box = card.querySelector("[data-refusal]");
    if (!box) { return; }
    box.textContent = message || "";
    box.classList.toggle("d-none", !message);
  }

  function problemText(body, status) {
    if (!body || typeof body !== "object") { return "The move failed (" + status + ")."; }
    var text = body.detail || body.title || ("The move failed (" + status + ").");
    var reasons = (body.errors || []).map(function (e) { return e.message; }).filter(Boolean);
    if (reasons.length) { text += ": " + reasons.join(" "); }
    if (status === 409 || status === 412) { text += " Reload the board to see the latest state."; }
    return text;
  }

  // the totals per column follow from the server: re-read them after a move
  function refreshTotals() {
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        fresh.querySelectorAll("[data-column]").forEach(function (col) {
          var mine = column(col.getAttribute("data-column"));
          if (!mine) { return; }
          ["[data-count]", "[data-total]"].forEach(function (sel) {
            var a = col.querySelector(sel), b = mine.querySelector(sel);
            if (a && b) { b.textContent = a.textContent; }
          });
        });
      })
      .catch(function () { /* the numbers stay as they are until the next reload */ });
  }

  function rebuildChoices(card, state) {
    var select = card.querySelector("select[name=to]");
    if (!select) { return; }
    select.innerHTML = "";
    board.querySelectorAll("[data-column]").forEach(function (col) {
      var value = col.getAttribute("data-column");
      if (value === state) { return; }
      var option = document.createElement("option");
      option.value = value;
      option.textContent = col.querySelector("h2").textContent.trim();
      select.appendChild(option);
    });
  }

  function move(card, to) {
    var from = card.getAttribute("data-state");
    if (!to || to === from) { return; }
    var home = card.parentNode, next = card.nextSibling;
    var target = column(to).querySelector("[data-drop]");
    target.insertBefore(card, target.firstChild);
    setCount(column(from), -1);
    setCount(column(to), +1);
    refusal(card, "");
    card.classList.add("kanban-moving");
    card.setAttribute("aria-busy", "true");
    var body = { id: card.getAttribute("data-card"), to: to, version: parseInt(card.getAttribute("data-version"), 10) };
    fetch(moveUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        if (!response.ok) { throw { status: response.status, body: data }; }
        return data;
      });
    }).then(function (data) {
      card.setAttribute("data-version", String(data.version));
      card.setAttribute("data-state", to);
      var form = card.querySelector("input[name=version]");
      if (form) { form.value = String(data.version); }
      rebuildChoices(card, to);
      refreshTotals();
    }).catch(function (failure) {
      home.insertBefore(card, next && next.parentNode === home ? next : null);
      setCount(column(to), -1);
      setCount(column(from), +1);
      refusal(card, failure && failure.status ? problemText(failure.body, failure.status) : "The move failed: the server could not be reached.");
    }).then(function () {
      card.classList.remove("kanban-moving");
      card.removeAttribute("aria-busy");
    });
  }

  board.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest("[data-card]");
    if (!card) { return; }
    dragged = card;
    card.classList.add("kanban-dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.getAttribute("data-card"));
  });
  board.addEventListener("dragend", function () {
    if (dragged) { dragged.classList.remove("kanban-dragging"); }
    dragged = null;
    board.querySelectorAll(".kanban-over").forEach(function (el) { el.classList.remove("kanban-over"); });
  });
  board.addEventListener("dragover", function (event) {
    var zone = event.target.closest && event.target.closest("[data-drop]");
    if (!zone || !dragged) { return; }
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    zone.classList.add("kanban-over");
  });
  board.addEventListener("dragleave", function (event) {
    var zone = event.target.closest && event.target.closest("[data-drop]");
    if (zone && !zone.contains(event.relatedTarget)) { zone.classList.remove("kanban-over"); }
  });
  board.addEventListener("drop", function (event) {
    var zone = event.target.closest && event.target.closest("[data-drop]");
    if (!zone || !dragged) { return; }
    event.preventDefault();
    zone.classList.remove("kanban-over");
    move(dragged, zone.getAttribute("data-drop"));
  });
  // the card's form (keyboard users, or a browser without drag and drop) moves the same way
  board.addEventListener("submit", function (event) {
    var form = event.target.closest && event.target.closest("[data-move-form]");
    if (!form) { return; }
    event.preventDefault();
    move(form.closest("[data-card]"), form.querySelector("select[name=to]").value);
  });
})();
