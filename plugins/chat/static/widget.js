/* Tessera chat-to-lead widget. Embed with:
 *   <script src="https://crm.example.com/public/plugins/chat/widget.js" data-widget="website" async></script>
 * It adds a "chat" button; a visitor's message is posted to
 * /public/plugins/chat/WIDGET/messages on the same server the script came from.
 * Everything the visitor or the server writes is shown with textContent (never as HTML). */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var widget = script.getAttribute("data-widget");
  var base = new URL(script.src).origin + "/public/plugins/chat/" + encodeURIComponent(widget || "");
  var css = "#tessera-chat{position:fixed;right:1rem;bottom:1rem;z-index:2147483000;font:14px/1.4 sans-serif}" +
    "#tessera-chat button{cursor:pointer;border:0;border-radius:1.5rem;padding:.6rem 1rem;background:#2457c5;color:#fff}" +
    "#tessera-chat form{display:none;flex-direction:column;gap:.4rem;width:18rem;padding:1rem;margin-bottom:.5rem;" +
    "background:#fff;color:#222;border-radius:.5rem;box-shadow:0 4px 16px rgba(0,0,0,.2)}" +
    "#tessera-chat.open form{display:flex}#tessera-chat input,#tessera-chat textarea{font:inherit;padding:.3rem}" +
    "#tessera-chat .hp{position:absolute;left:-10000px}";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) { node.textContent = text; }
    return node;
  }

  function build(config) {
    var style = el("style", {}, css);
    var box = el("div", { id: "tessera-chat" });
    var form = el("form", { "aria-label": config.title || "Chat" });
    var title = el("strong", {}, config.title || "Chat with us");
    var greeting = el("p", {}, config.greeting || "");
    var name = el("input", { name: "name", placeholder: "Your name", autocomplete: "name", maxlength: "200" });
    var email = el("input", { name: "email", type: "email", placeholder: "E-mail", autocomplete: "email", maxlength: "320" });
    var message = el("textarea", { name: "message", rows: "4", placeholder: "Your message", required: "", maxlength: "4000" });
    var trap = el("input", { name: "website", tabindex: "-1", autocomplete: "off", "class": "hp", "aria-hidden": "true" });
    var status = el("p", { role: "status" });
    var send = el("button", { type: "submit" }, "Send");
    var toggle = el("button", { type: "button", "aria-expanded": "false" }, config.title || "Chat");
    [title, greeting, name, email, message, trap, send, status].forEach(function (n) { form.appendChild(n); });
    box.appendChild(form);
    box.appendChild(toggle);
    toggle.addEventListener("click", function () {
      var open = box.classList.toggle("open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      send.disabled = true;
      status.textContent = "";
      fetch(base + "/messages", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name: name.value, email: email.value, message: message.value,
                               website: trap.value, page: String(window.location.href).slice(0, 2000) })
      }).then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      }).then(function (result) {
        if (result.ok) {
          message.value = "";
          status.textContent = result.body.message || "Thank you.";
        } else {
          var errors = (result.body.errors || []).map(function (e) { return e.message; }).join(" ");
          status.textContent = (result.body.title || "Not sent.") + " " + errors;
        }
      }).catch(function () {
        status.textContent = "Not sent: no connection. Please try again.";
      }).then(function () { send.disabled = false; });
    });
    document.head.appendChild(style);
    document.body.appendChild(box);
  }

  fetch(base + "/config").then(function (r) { return r.ok ? r.json() : null; }).then(function (config) {
    if (config) { build(config); }
  }).catch(function () { /* the widget stays hidden when the CRM cannot be reached */ });
})();
