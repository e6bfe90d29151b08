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

  // A table cell; `label` names it where the table is shown as cards (a phone's width, console.css).
  function cell(row, content, label, className) {
    var td = el("td", className);
    if (label) td.setAttribute("data-label", label);
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

  function unread(count) {
    if (!count) return null;
    var span = el("span", "unread", count + " new");
    span.title = "Messages from the patient since the chat was last read";
    return span;
  }

  function claimForm(chat) {
    var form = el("form");
    form.method = "post";
    form.action = chat.claim_url;
    var token = el("input");
    token.type = "hidden";
    token.name = "csrf_token";
    token.value = document.querySelector('meta[name="csrf-token"]').content;
    var button = el("button", "", "Claim");
    button.type = "submit";
    button.setAttribute("aria-label", "Claim the chat with " + chat.profile);
    form.appendChild(token);
    form.appendChild(button);
    return form;
  }

  // A consultation request's key facts, and its booking, under the row's first words.
  function withLines(td, chat) {
    if (chat.facts) td.appendChild(el("div", "facts", chat.facts));
    if (chat.booked) td.appendChild(el("div", "booked", chat.booked));
  }

  function replaceChildren(id, children) {
    var parent = document.getElementById(id);
    while (parent.firstChild) parent.removeChild(parent.firstChild);
    children.forEach(function (child) { parent.appendChild(child); });
    var empty = document.getElementById(id + "-empty");
    if (empty) empty.hidden = children.length > 0;
  }

  // New waiting chats are announced to screen readers; a new urgent one also sounds and counts in the title.
  var known = null;
  var baseTitle = document.title.replace(/^\(\d+\) /, "");
  var audio = null;

  function beep() {
    try {
      var Context = window.AudioContext || window.webkitAudioContext;
      audio = audio || new Context();
      if (audio.state === "suspended") audio.resume();
      var tone = audio.createOscillator(), volume = audio.createGain(), now = audio.currentTime;
      tone.frequency.value = 880;
      volume.gain.setValueAtTime(0.0001, now);
      volume.gain.exponentialRampToValueAtTime(0.3, now + 0.02);
      volume.gain.exponentialRampToValueAtTime(0.0001, now + 0.5);
      tone.connect(volume);
      volume.connect(audio.destination);
      tone.start(now);
      tone.stop(now + 0.5);
    } catch (e) { /* no sound on this browser: the title and the announcement still say it */ }
  }

  function announce(all) {
    var news = document.getElementById("queue-news");
    if (known === null) known = (news.dataset.known || "").split(" ").filter(Boolean);
    var arrived = all.filter(function (chat) { return known.indexOf(chat.id) < 0; });
    known = all.map(function (chat) { return chat.id; });
    var urgent = all.filter(function (chat) { return chat.urgent; }).length;
    document.title = (urgent ? "(" + urgent + ") " : "") + baseTitle;
    if (!arrived.length) return;
    news.textContent = arrived.map(function (chat) {
      return "New chat waiting: " + chat.profile + (chat.urgent ? " (URGENT)." : ".");
    }).join(" ");
    if (arrived.some(function (chat) { return chat.urgent; })) beep();
  }

  function showQueue(data) {
    replaceChildren("waiting", data.waiting.map(function (chat) {
      var row = el("tr", chat.urgent ? "urgent" : "");
      cell(row, badge(chat.urgent), null, "flag");
      cell(row, link(chat.url, chat.profile), "Patient");
      cell(row, chat.number, "Number");
      withLines(cell(row, chat.reason, "Reason"), chat);
      cell(row, chat.waited, "Waited");
      cell(row, unread(chat.unread), null, "new");
      cell(row, claimForm(chat), null, "action");
      return row;
    }));
    document.getElementById("waiting-count").textContent = String(data.waiting.length);
    replaceChildren("claimed", data.claimed.map(function (chat) {
      var row = el("tr", chat.mine ? "mine" : "");
      cell(row, badge(chat.urgent), null, "flag");
      withLines(cell(row, link(chat.url, chat.profile), "Patient"), chat);
      cell(row, chat.number, "Number");
      cell(row, chat.coordinator, "Coordinator");
      cell(row, unread(chat.unread), null, "new");
      return row;
    }));
    replaceChildren("notices", data.notices.map(function (notice) {
      var item = el("li");
      item.appendChild(link(notice.url, notice.text));
      item.appendChild(document.createTextNode(" "));
      item.appendChild(el("time", "", notice.time));
      return item;
    }));
    document.getElementById("notices-box").hidden = data.notices.length === 0;
    replaceChildren("failures", data.failures.map(function (f) {
      return el("li", "", f.time + " · " + f.kind + " to " + f.to + " · " + f.error);
    }));
    document.getElementById("failures-box").hidden = data.failures.length === 0;
    announce(data.all_waiting);
  }

  function showConversation(data) {
    var list = document.getElementById("transcript");
    var atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 10;
    replaceChildren("transcript", data.entries.map(function (e) {
      var item = el("li", e.role);
      item.id = e.anchor;
      var meta = el("div", "meta");
      meta.appendChild(el("span", "who", e.who));
      meta.appendChild(document.createTextNode(" "));
      meta.appendChild(el("time", "", e.time));
      if (e.intent) {
        var topic = el("span", "intent", e.intent);
        topic.title = "The topic the assistant answered";
        meta.appendChild(document.createTextNode(" "));
        meta.appendChild(topic);
      }
      if (e.status) {
        var status = el("span", e.problem ? "status problem" : "status", e.status);
        status.title = e.status_note;
        meta.appendChild(document.createTextNode(" "));
        meta.appendChild(status);
      }
      item.appendChild(meta);
      item.appendChild(el("div", "text", e.text));
      if (e.problem) item.appendChild(el("div", "delivery-note", e.status_note));
      return item;
    }));
    if (atBottom) list.scrollTop = list.scrollHeight;
    document.getElementById("state").textContent = data.state;
    var closed = document.getElementById("window-closed");
    if (closed) closed.hidden = data.window_open;
    if (document.getElementById("held")) {
      replaceChildren("held", data.held.map(function (text) { return el("li", "", text); }));
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
    // Browsers play sound only after the page has been used: the first click or key readies it.
    ["click", "keydown"].forEach(function (kind) {
      document.addEventListener(kind, function () {
        var Context = window.AudioContext || window.webkitAudioContext;
        if (!audio && Context && document.getElementById("waiting")) audio = new Context();
      }, { once: true });
    });
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
