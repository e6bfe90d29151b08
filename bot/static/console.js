// The console refreshes its queue and conversations by polling JSON. Patient text is untrusted:
// it only ever enters the page as textContent, never as HTML.
"use strict";

(function () {
  var POLL_MS = 3000;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function cell(row, content) {
    var td = el("td");
    if (content instanceof Node) td.appendChild(content); else if (content) td.textContent = content;
    row.appendChild(td);
    return td;
  }

  function link(href, text) {
    var a = el("a", "", text);
    a.href = href;
    return a;
  }

  function badge(urgent) {
    return urgent ? el("span", "badge", "URGENT") : null;
  }

  function claimForm(action) {
    var form = el("form");
    form.method = "post";
    form.action = action;
    var token = el("input");
    token.type = "hidden";
    token.name = "csrf_token";
    token.value = document.querySelector('meta[name="csrf-token"]').content;
    var button = el("button", "", "Claim");
    button.type = "submit";
    form.appendChild(token);
    form.appendChild(button);
    return form;
  }

  // A consultation request's key facts, and its booking, under the row's first words.
  function withLines(td, chat) {
    if (chat.facts) td.appendChild(el("div", "facts", chat.facts));
    if (chat.booked) td.appendChild(el("div", "booked", chat.booked));
  }

  function replaceRows(id, rows) {
    var body = document.getElementById(id);
    while (body.firstChild) body.removeChild(body.firstChild);
    rows.forEach(function (row) { body.appendChild(row); });
    var empty = document.getElementById(id + "-empty");
    if (empty) empty.hidden = rows.length > 0;
  }

  function showQueue(data) {
    replaceRows("waiting", data.waiting.map(function (chat) {
      var row = el("tr", chat.urgent ? "urgent" : "");
      cell(row, badge(chat.urgent));
      cell(row, link(chat.url, chat.profile));
      cell(row, chat.number);
      withLines(cell(row, chat.reason), chat);
      cell(row, chat.waited);
      cell(row, claimForm(chat.claim_url));
      return row;
    }));
    document.getElementById("waiting-count").textContent = String(data.waiting.length);
    replaceRows("claimed", data.claimed.map(function (chat) {
      var row = el("tr", chat.mine ? "mine" : "");
      cell(row, badge(chat.urgent));
      withLines(cell(row, link(chat.url, chat.profile)), chat);
      cell(row, chat.number);
      cell(row, chat.coordinator);
      return row;
    }));
    var list = document.getElementById("failures");
    while (list.firstChild) list.removeChild(list.firstChild);
    data.failures.forEach(function (f) {
      list.appendChild(el("li", "", f.time + " · " + f.kind + " to " + f.to + " · " + f.error));
    });
    document.getElementById("failures-box").hidden = data.failures.length === 0;
  }

  function showConversation(data) {
    var list = document.getElementById("transcript");
    var atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 10;
    while (list.firstChild) list.removeChild(list.firstChild);
    data.entries.forEach(function (e) {
      var item = el("li", e.role);
      var meta = el("div", "meta");
      meta.appendChild(el("span", "who", e.who));
      meta.appendChild(document.createTextNode(" "));
      meta.appendChild(el("time", "", e.time));
      if (e.intent) { meta.appendChild(document.createTextNode(" ")); meta.appendChild(el("span", "intent", e.intent)); }
      if (e.status) { meta.appendChild(document.createTextNode(" ")); meta.appendChild(el("span", "status", e.status)); }
      item.appendChild(meta);
      item.appendChild(el("div", "text", e.text));
      list.appendChild(item);
    });
    if (atBottom) list.scrollTop = list.scrollHeight;
    document.getElementById("state").textContent = data.state;
    var closed = document.getElementById("window-closed");
    if (closed) closed.hidden = data.window_open;
    var held = document.getElementById("held");
    if (held) {
      while (held.firstChild) held.removeChild(held.firstChild);
      data.held.forEach(function (text) { held.appendChild(el("li", "", text)); });
      document.getElementById("held-box").hidden = data.held.length === 0;
    }
  }

  function poll(url, show) {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) { window.location.reload(); return null; }
        return response.ok ? response.json() : null;
      })
      .then(function (data) { if (data) show(data); })
      .catch(function () { /* the next round tries again */ })
      .then(function () { window.setTimeout(function () { poll(url, show); }, POLL_MS); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var url = document.body.dataset.poll;
    if (url && document.getElementById("waiting")) poll(url, showQueue);
    if (url && document.getElementById("transcript")) poll(url, showConversation);
    var box = document.getElementById("reply-text");
    Array.prototype.forEach.call(document.querySelectorAll(".canned-reply"), function (button) {
      button.addEventListener("click", function () {
        box.value = button.dataset.text;
        box.focus();
      });
    });
    var list = document.getElementById("transcript");
    if (list) list.scrollTop = list.scrollHeight;
    // The unanswered page: copy a YAML snippet, to paste into responses.yaml.
    Array.prototype.forEach.call(document.querySelectorAll("[data-copy]"), function (button) {
      button.addEventListener("click", function () {
        var text = button.parentNode.querySelector("pre").textContent;
        var done = function () { button.textContent = "Copied"; };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, function () { selectText(button.parentNode.querySelector("pre")); });
        } else {
          selectText(button.parentNode.querySelector("pre"));
        }
      });
    });
  });

  // Without the clipboard (plain http), select the snippet so Ctrl-C copies it.
  function selectText(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
})();
