// Live forms: while a record form is edited, ask the server what it would become
// (POST /app/ENTITY/preview: the same derivations as a save) and show it: computed totals,
// line totals, fields hidden by visible_if and frozen by readonly_if. Without JavaScript the
// form still works; the server computes and checks everything on save.
(function () {
  "use strict";
  var form = document.querySelector("form[data-preview-url]");
  if (!form) { return; }
  var timer = null;
  var token = 0;

  function show(value) {
    if (value === null || value === undefined || value === "") { return "—"; }
    if (typeof value === "object") { return value.id || JSON.stringify(value); }
    return String(value);
  }

  function filledRows(table) {
    return Array.prototype.filter.call(table.querySelectorAll("tbody tr"), function (row) {
      return Array.prototype.some.call(row.querySelectorAll("input:not([type=hidden]), select, textarea"), function (el) {
        return el.type === "checkbox" ? el.checked : el.value !== "";
      });
    });
  }

  function apply(state) {
    var values = state.values || {};
    document.querySelectorAll("[data-field-wrap]").forEach(function (wrap) {
      var name = wrap.getAttribute("data-field-wrap");
      wrap.hidden = (state.hidden || []).indexOf(name) >= 0;
      var frozen = (state.readonly || []).indexOf(name) >= 0;
      wrap.querySelectorAll("input, select, textarea").forEach(function (el) { el.disabled = frozen; });
    });
    document.querySelectorAll("[data-computed-field]").forEach(function (cell) {
      var name = cell.getAttribute("data-computed-field");
      if (name in values) { cell.textContent = show(values[name]); }
    });
    document.querySelectorAll("table[data-lines]").forEach(function (table) {
      var rows = values[table.getAttribute("data-lines")];
      if (!Array.isArray(rows)) { return; }
      filledRows(table).forEach(function (row, index) {
        row.querySelectorAll("[data-computed]").forEach(function (cell) {
          var item = rows[index] || {};
          cell.textContent = show(item[cell.getAttribute("data-computed")]).replace("—", "");
        });
      });
    });
  }

  function preview() {
    var mine = ++token;
    var data = new FormData(form);
    fetch(form.getAttribute("data-preview-url"), { method: "POST", body: data, credentials: "same-origin" })
      .then(function (reply) { return reply.ok ? reply.json() : null; })
      .then(function (state) { if (state && mine === token) { apply(state); } })
      .catch(function () { /* offline: the save still computes everything */ });
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(preview, 300);
  }
  form.addEventListener("input", later);
  form.addEventListener("change", later);
})();

// Link pickers for entities with many records: type a few letters, pick from the matches
// (GET /api/v1/ENTITY with a DSL filter on the title field, as the signed-in user).
(function () {
  "use strict";
  function quote(text) { return '"' + text.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"'; }
  document.querySelectorAll("input[data-picker]").forEach(function (input) {
    var list = document.getElementById(input.getAttribute("list"));
    var timer = null;
    input.addEventListener("input", function () {
      var typed = input.value.trim();
      window.clearTimeout(timer);
      if (typed.length < 2 || /^[0-9a-f-]{36}$/.test(typed)) { return; }
      timer = window.setTimeout(function () {
        var title = input.getAttribute("data-title-field");
        var url = "/api/v1/" + input.getAttribute("data-picker") + "?limit=10&fields=id," + title +
          "&filter=" + encodeURIComponent(title + " ~ " + quote(typed));
        fetch(url, { credentials: "same-origin" })
          .then(function (reply) { return reply.ok ? reply.json() : { data: [] }; })
          .then(function (page) {
            list.innerHTML = "";
            page.data.forEach(function (record) {
              var option = document.createElement("option");
              option.value = record.id;
              option.label = record[title] || record.id;
              list.appendChild(option);
            });
          })
          .catch(function () { /* the id can still be typed */ });
      }, 250);
    });
  });
})();
