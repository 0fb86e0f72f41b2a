// The form layout editor (ui/layout_editor.py, templates/admin/layout_editor.html).
// Without this script the page is a plain form: each field card has a section select and an
// order number, each section a position and a "remove" box. With it, the cards are dragged
// between and within sections (HTML5 drag and drop), moved with the up/down buttons or the
// section select (keyboard users), sections are added and removed, and the hidden numbers are
// kept in step with what the page shows, so the server reads the same form either way.
(function () {
  "use strict";
  var form = document.querySelector("[data-layout-editor]");
  if (!form) { return; }
  var container = form.querySelector("[data-sections]");
  var dragged = null;

  function sections() { return Array.prototype.slice.call(container.querySelectorAll("[data-section]")); }
  function cards(section) { return Array.prototype.slice.call(section.querySelectorAll("[data-field-card]")); }
  function keyOf(section) { return section.getAttribute("data-section"); }
  function sectionByKey(key) { return container.querySelector('[data-section="' + CSS.escape(key) + '"]'); }
  function labelOf(section) {
    var value = section.querySelector("[data-section-label]").value.trim();
    return value || "New section";
  }

  // the numbers the server reads follow the page: section positions, each card's section and order
  function renumber() {
    sections().forEach(function (section, i) {
      section.querySelector("[data-section-position]").value = String(i + 1);
      var list = cards(section);
      list.forEach(function (card, j) {
        card.querySelector("[data-field-section]").value = keyOf(section);
        card.querySelector("[data-field-order]").value = String(j + 1);
      });
      section.querySelector("[data-empty-hint]").classList.toggle("d-none", list.length > 0);
      section.setAttribute("aria-label", "Section " + labelOf(section));
    });
  }

  // every card's section select offers every section, named as now
  function refreshOptions() {
    var all = sections();
    form.querySelectorAll("[data-field-section]").forEach(function (select) {
      var chosen = select.value;
      select.textContent = "";
      all.forEach(function (section) {
        var option = document.createElement("option");
        option.value = keyOf(section);
        option.textContent = labelOf(section);
        select.appendChild(option);
      });
      select.value = chosen;
    });
  }

  function place(card, section, before) {
    var list = section.querySelector("[data-fields]");
    if (before && before !== card) { list.insertBefore(card, before); } else if (!before) { list.appendChild(card); }
    renumber();
  }

  // the card the dragged one goes before: the first whose middle is below the pointer
  function cardAfter(section, y) {
    var found = null;
    cards(section).some(function (card) {
      if (card === dragged) { return false; }
      var box = card.getBoundingClientRect();
      if (y < box.top + box.height / 2) { found = card; return true; }
      return false;
    });
    return found;
  }

  function enhanceCard(card) {
    card.querySelectorAll("[data-nojs]").forEach(function (el) { el.classList.add("d-none"); });
    card.querySelectorAll("[data-js]").forEach(function (el) { el.classList.remove("d-none"); });
    card.addEventListener("dragstart", function (event) {
      dragged = card;
      card.classList.add("opacity-50");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", card.getAttribute("data-field-card"));
    });
    card.addEventListener("dragend", function () {
      card.classList.remove("opacity-50");
      dragged = null;
      form.querySelectorAll("[data-drop-zone]").forEach(function (z) { z.classList.remove("border-primary", "border-2"); });
    });
    card.querySelector("[data-field-section]").addEventListener("change", function (event) {
      var target = sectionByKey(event.target.value);
      if (target) { place(card, target, null); card.querySelector("[data-field-section]").focus(); }
    });
    card.querySelectorAll("[data-move]").forEach(function (button) {
      button.addEventListener("click", function () {
        var list = card.parentNode;
        if (button.getAttribute("data-move") === "up" && card.previousElementSibling) {
          list.insertBefore(card, card.previousElementSibling);
        } else if (button.getAttribute("data-move") === "down" && card.nextElementSibling) {
          list.insertBefore(card.nextElementSibling, card);
        }
        renumber();
        button.focus();
      });
    });
  }

  function enhanceSection(section) {
    section.querySelectorAll(":scope [data-nojs]").forEach(function (el) {
      if (!el.closest("[data-field-card]")) { el.classList.add("d-none"); }
    });
    section.querySelectorAll(":scope [data-js]").forEach(function (el) {
      if (!el.closest("[data-field-card]")) { el.classList.remove("d-none"); }
    });
    var zone = section.querySelector("[data-drop-zone]");
    zone.addEventListener("dragover", function (event) {
      if (!dragged) { return; }
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      zone.classList.add("border-primary", "border-2");
    });
    zone.addEventListener("dragleave", function (event) {
      if (!zone.contains(event.relatedTarget)) { zone.classList.remove("border-primary", "border-2"); }
    });
    zone.addEventListener("drop", function (event) {
      if (!dragged) { return; }
      event.preventDefault();
      zone.classList.remove("border-primary", "border-2");
      place(dragged, section, cardAfter(section, event.clientY));
    });
    section.querySelector("[data-section-label]").addEventListener("input", refreshOptions);
    section.querySelector("[data-remove-section]").addEventListener("click", function () {
      var others = sections().filter(function (s) { return s !== section; });
      if (!others.length) { return; } // the last section stays: a layout needs one
      var into = others[0];
      cards(section).forEach(function (card) { into.querySelector("[data-fields]").appendChild(card); });
      section.parentNode.removeChild(section);
      refreshOptions();
      renumber();
      into.querySelector("[data-section-label]").focus();
    });
    cards(section).forEach(enhanceCard);
  }

  var nextKey = 0;
  sections().forEach(function (section) { nextKey = Math.max(nextKey, parseInt(keyOf(section), 10) + 1); });

  // a new section is a copy of the first blank one the page offers for the form without script
  var blueprint = form.querySelector("[data-section][data-blank]");
  blueprint = blueprint ? blueprint.cloneNode(true) : null;
  form.querySelectorAll("[data-section][data-blank]").forEach(function (s) { s.parentNode.removeChild(s); });

  function addSection() {
    if (!blueprint) { return; }
    var key = String(nextKey++);
    var section = blueprint.cloneNode(true);
    var old = keyOf(section);
    section.setAttribute("data-section", key);
    section.removeAttribute("data-blank");
    section.querySelectorAll("[id], [name], [for]").forEach(function (el) {
      ["id", "name", "for"].forEach(function (attr) {
        var v = el.getAttribute(attr);
        if (v) { el.setAttribute(attr, v.replace("section-" + old + "-", "section-" + key + "-")); }
      });
    });
    section.querySelector("[data-section-label]").value = "";
    section.querySelector("[data-section-original]").value = "null";
    container.appendChild(section);
    enhanceSection(section);
    refreshOptions();
    renumber();
    section.querySelector("[data-section-label]").focus();
  }

  sections().forEach(enhanceSection);
  var add = form.querySelector("[data-add-section]");
  add.classList.remove("d-none");
  add.addEventListener("click", addSection);
  refreshOptions();
  renumber();
})();
