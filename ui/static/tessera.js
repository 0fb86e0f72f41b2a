// Progressive enhancement for Tessera's pages; every page works without it.
(function () {
  "use strict";
  // "/" focuses the global search (unless typing in a field)
  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (event.key === "/" && !event.ctrlKey && !event.metaKey && tag !== "input" && tag !== "textarea" && tag !== "select") {
      var box = document.querySelector("[data-shortcut='/']");
      if (box) { event.preventDefault(); box.focus(); }
    }
  });
  // a select that opens what it names (saved views)
  document.querySelectorAll("[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  // "select all" in list views
  document.querySelectorAll("[data-check-all]").forEach(function (box) {
    box.addEventListener("change", function () {
      box.closest("form").querySelectorAll("input[name='ids']").forEach(function (row) { row.checked = box.checked; });
    });
  });
  // confirm before destructive forms
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
})();
