// Live updates of one record (ui/live.py): on a record page or an edit form with an element
// carrying data-live-record, listen to /app/events for the record's entity and, when someone
// commits a newer version of this record, say "This record was changed by X - reload".
// The stream names only entity, id, version and kind (and only records the user may read);
// who changed it and the new values are re-read from the record page itself.
// On the record page the detail sections are refreshed in place unless the user has typed
// into a form there (a comment, a quick add); on an edit form nothing the user typed is ever
// touched: the banner only tells them, and the optimistic lock explains a conflict on save.
(function () {
  "use strict";
  var marker = document.querySelector("[data-live-record]");
  if (!marker || !window.EventSource || !window.fetch) { return; }
  var entity = marker.getAttribute("data-live-record");
  var id = marker.getAttribute("data-record-id");
  var viewUrl = marker.getAttribute("data-record-url");
  var editing = marker.getAttribute("data-mode") === "edit";
  var viewer = marker.getAttribute("data-viewer");
  var version = parseInt(marker.getAttribute("data-version"), 10) || 0;
  var dirty = false;
  var busy = false;
  var pending = null;
  var source = null;
  var backoff = 30000;

  // typing into any form of a record page (quick add, approval comment ...) means "keep my page"
  if (!editing) {
    document.querySelectorAll("#main form").forEach(function (f) {
      ["input", "change"].forEach(function (type) { f.addEventListener(type, function () { dirty = true; }); });
    });
  }

  function banner() {
    var el = document.querySelector("[data-record-banner]");
    if (!el) {
      el = document.createElement("div");
      el.className = "alert alert-info d-flex flex-wrap align-items-center gap-2 py-2";
      el.setAttribute("role", "status");
      el.setAttribute("data-record-banner", "");
      marker.parentNode.insertBefore(el, marker.nextSibling);
    }
    return el;
  }

  function say(words, note) {
    var el = banner();
    el.textContent = "";
    var span = document.createElement("span");
    span.textContent = words + " \u2014 ";
    el.appendChild(span);
    var link = document.createElement("a");
    link.href = window.location.href.split("#")[0];
    link.className = "alert-link";
    link.textContent = "reload";
    el.appendChild(link);
    if (note) {
      var small = document.createElement("span");
      small.className = "small text-body-secondary";
      small.textContent = note;
      el.appendChild(small);
    }
  }

  function who(fresh) {
    var byId = fresh.getAttribute("data-updated-by");
    if (byId && viewer && byId === viewer) { return "you in another window"; }
    return fresh.getAttribute("data-changed-by") || "someone else";
  }

  // read the record page again: who changed it, the new version, and (record page) its details
  function check(kind) {
    if (busy) { pending = kind; return; }
    busy = true;
    fetch(viewUrl, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text().then(function (t) { return { html: t }; }) : { gone: r.status }; })
      .then(function (got) {
        if (got.gone) {
          say(kind === "delete" ? "This record was deleted" : "This record is no longer available to you");
          return;
        }
        var page = new DOMParser().parseFromString(got.html, "text/html");
        var fresh = page.querySelector("[data-live-record]");
        if (!fresh) { return; }
        var newer = parseInt(fresh.getAttribute("data-version"), 10) || 0;
        if (newer <= version) { return; } // already shown (or our own save)
        var text = "This record was changed by " + who(fresh);
        var note = editing ? " Your typing here is kept; saving it would be refused as a conflict." : "";
        if (!editing && !dirty) {
          var mine = document.querySelector("[data-live-detail]");
          var theirs = page.querySelector("[data-live-detail]");
          if (mine && theirs) {
            mine.innerHTML = theirs.innerHTML;
            version = newer;
            marker.setAttribute("data-version", String(newer));
            note = " The details below are up to date.";
          }
        }
        say(text, note);
      })
      .catch(function () { say("This record may have changed"); })
      .then(function () {
        busy = false;
        if (pending) { var again = pending; pending = null; check(again); }
      });
  }

  function connect() {
    source = new EventSource("/app/events?entity=" + encodeURIComponent(entity));
    source.addEventListener("change", function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (data.entity !== entity || data.id !== id) { return; }
      if (data.kind !== "delete" && (data.version || 0) <= version) { return; }
      check(data.kind);
    });
    source.addEventListener("missed", function () { check("update"); });
    source.addEventListener("open", function () { backoff = 30000; });
    source.addEventListener("error", function () {
      if (source.readyState === EventSource.CLOSED) {
        window.setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 600000);
      }
    });
  }

  connect();
})();
