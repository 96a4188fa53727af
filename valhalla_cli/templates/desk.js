// The call desk's script: a client of /api/desk* and /api/inbox*, holding no rule of its own.
// Every value is shown with textContent (never as HTML); every change carries the session's form
// token, and every request carries the page's `at` (a replayed session) and its chosen owner.
(function () {
  "use strict";
  var root = document.getElementById("desk");
  var FORM = root.dataset.form || "";
  var AT = root.dataset.at || "";
  var OWNER = root.dataset.owner || "";
  var ZONE = root.dataset.zone || "UTC";
  // The dispositions in the order of their keys 1 to 7.
  var OUTCOMES = [
    ["no_answer", "No answer"], ["voicemail", "Voicemail"], ["contacted", "Contacted"],
    ["appointment", "Appointment"], ["not_interested", "Not interested"],
    ["wrong_number", "Wrong number"], ["do_not_call", "Do not call"]
  ];
  var CLOSE_OUTCOMES = [
    ["resume", "Resume the ladder"], ["appointment", "Appointment"], ["contacted", "Contacted"],
    ["not_interested", "Not interested"], ["wrong_number", "Wrong number"], ["opt_out", "Opt out"]
  ];
  var state = { card: null, busy: false, queue: null, checkTimer: null };

  // --- requests ---------------------------------------------------------------------------
  function address(path, withOwner) {
    var query = new URLSearchParams();
    if (AT) { query.set("at", AT); }
    if (withOwner && OWNER) { query.set("owner", OWNER); }
    var text = query.toString();
    return text ? path + "?" + text : path;
  }

  function api(method, path, body, withOwner) {
    var init = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (method !== "GET") {
      init.headers["X-Valhalla-Form"] = FORM;
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body || {});
    }
    return fetch(address(path, withOwner !== false), init).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = { message: text }; }
        return { status: response.status, ok: response.ok, data: data || {} };
      });
    }, function () {
      return { status: 0, ok: false, data: { message: "the server did not answer (is valhalla serve running?)" } };
    });
  }

  function messageOf(answer) {
    var d = answer.data || {};
    if (d.error && d.error.message) { return d.error.message; }
    if (answer.status === 401) { return "your sign-in is no longer valid: reload the page and sign in again"; }
    return d.message || d.reason || ("the server answered " + answer.status);
  }

  // --- display helpers ----------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") { node.textContent = attrs[key]; }
      else if (key === "className") { node.className = attrs[key]; }
      else { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) {
        node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
      }
    });
    return node;
  }

  var INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

  function local(value, zone) {
    // An instant of the API, read in a time zone (the business's unless told): 2027-06-15 11:00 Toronto.
    if (typeof value !== "string" || !INSTANT.test(value)) { return value === null || value === undefined ? "–" : String(value); }
    var when = new Date(value);
    if (isNaN(when.getTime())) { return value; }
    var z = zone || ZONE;
    var parts = {};
    new Intl.DateTimeFormat("en-CA", { timeZone: z, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(when).forEach(function (p) { parts[p.type] = p.value; });
    return parts.year + "-" + parts.month + "-" + parts.day + " " + parts.hour + ":" + parts.minute + " " + z.split("/").pop().replace(/_/g, " ");
  }

  function day(value) {
    // A date, or the date of an instant in the business's zone.
    var text = local(value);
    return typeof text === "string" ? text.slice(0, 10) : text;
  }

  function describe(value) {
    // Any JSON value in words: "key: value · key: value", instants read locally.
    if (value === null || value === undefined || value === "") { return "–"; }
    if (Array.isArray(value)) { return value.length ? value.map(describe).join("; ") : "none"; }
    if (typeof value === "object") {
      return Object.keys(value).filter(function (k) { return value[k] !== null && value[k] !== undefined && value[k] !== ""; })
        .map(function (k) { return k.replace(/_/g, " ") + ": " + describe(value[k]); }).join(" · ");
    }
    if (typeof value === "boolean") { return value ? "yes" : "no"; }
    return local(value);
  }

  function say(text, failed) {
    var status = document.getElementById("status");
    status.textContent = text || "";
    status.className = failed ? "fail" : "";
  }

  function outcome(text, failed) {
    var box = document.getElementById("outcome");
    box.textContent = text || "";
    box.className = failed ? "fail" : "";
  }

  // --- the queue and the inbox -------------------------------------------------------------
  function loadQueue() {
    return api("GET", "/api/desk").then(function (answer) {
      if (!answer.ok) { say(messageOf(answer), true); return; }
      state.queue = answer.data;
      renderQueue(answer.data);
      renderInbox(answer.data.inbox || []);
    });
  }

  function renderQueue(queue) {
    document.getElementById("due").textContent = String(queue.due === undefined ? "–" : queue.due);
    document.getElementById("overdue").textContent = String(queue.overdue === undefined ? "–" : queue.overdue);
    document.getElementById("overdue-fact").className = "fact" + (queue.overdue > 0 ? " fail" : "");
    var list = document.getElementById("calls");
    list.textContent = "";
    var calls = queue.calls || [];
    if (!calls.length) { list.appendChild(el("li", { className: "muted", text: "No call is due now." })); }
    calls.forEach(function (call) {
      var due = call.due_at || call.due;
      list.appendChild(el("li", {}, [
        el("span", { className: "who", text: call.name || call.lead_id || ("task " + call.task_id) }),
        call.step !== undefined && call.step !== null ? el("span", { className: "muted", text: "step " + call.step }) : null,
        el("span", { className: "muted", text: call.owner ? call.owner : "unowned" }),
        due ? el("span", { className: "nowrap", text: "due " + local(due) }) : null,
        call.overdue ? el("span", { className: "badge fail", text: "overdue" }) : null
      ]));
    });
    updateNextButton();
  }

  function conversationList(lines) {
    var list = el("ul", { className: "conversation" });
    (lines || []).forEach(function (line) {
      list.appendChild(el("li", { className: line.direction === "outbound" ? "outbound" : "inbound" }, [
        el("span", { className: "when", text: (line.direction === "outbound" ? "sent " : "received ") + local(line.at) + (line.state ? " · " + line.state : "") }),
        String(line.text === undefined ? describe(line) : line.text)
      ]));
    });
    if (!(lines || []).length) { list.appendChild(el("li", { className: "muted", text: "No text yet." })); }
    return list;
  }

  function renderInbox(items) {
    var box = document.getElementById("inbox-items");
    box.textContent = "";
    document.getElementById("inbox-count").textContent = items.length + " open";
    if (!items.length) { box.appendChild(el("p", { className: "muted", text: "No lead waits for an answer." })); return; }
    items.forEach(function (item) { box.appendChild(inboxItem(item)); });
  }

  function inboxItem(item) {
    var lead = item.lead_id;
    var who = item.name || lead;
    var replyId = "reply-" + lead;
    var text = el("textarea", { id: replyId, name: "text", maxlength: "1600", required: "required" });
    var inquiry = el("input", { type: "checkbox", name: "record_inquiry" });
    var reply = el("form", { className: "reply" }, [
      el("label", { "for": replyId, text: "Reply to " + who }), text,
      el("div", { className: "row" }, [
        el("label", { className: "check" }, [inquiry, "record inquiry"]),
        el("button", { type: "submit", text: "Send reply" })
      ])
    ]);
    reply.addEventListener("submit", function (event) {
      event.preventDefault();
      api("POST", "/api/inbox/" + encodeURIComponent(lead) + "/reply",
        { text: text.value, record_inquiry: inquiry.checked }, false).then(function (answer) {
        say(answer.ok ? "Reply sent to " + who + "." : "Reply to " + who + " refused: " + messageOf(answer), !answer.ok);
        if (answer.ok) { loadQueue(); }
      });
    });
    var choice = el("select", { name: "outcome", "aria-label": "Outcome for " + who },
      CLOSE_OUTCOMES.map(function (o) { return el("option", { value: o[0], text: o[1] }); }));
    var note = el("input", { type: "text", name: "note", placeholder: "note (why)", "aria-label": "Note for " + who });
    var close = el("form", { className: "close row" }, [choice, note, el("button", { type: "submit", className: "light", text: "Close item" })]);
    close.addEventListener("submit", function (event) {
      event.preventDefault();
      api("POST", "/api/inbox/" + encodeURIComponent(lead) + "/close",
        { outcome: choice.value, note: note.value || null }, false).then(function (answer) {
        say(answer.ok ? "Closed " + who + " (" + choice.value + ")." : "Closing " + who + " refused: " + messageOf(answer), !answer.ok);
        if (answer.ok) { loadQueue(); }
      });
    });
    return el("div", { className: "item", "data-lead-id": lead }, [
      el("h3", {}, [who + " ", el("span", { className: "badge warn", text: item.kind || "reply" })]),
      el("p", { className: "small muted", text: [
        item.waiting_minutes !== undefined ? (waited(item.waiting_minutes) ? "waiting " + waited(item.waiting_minutes) : null)
          : "waiting since " + local(item.waiting_since || item.opened_at),
        item.deadline ? "answer by " + local(item.deadline) : null
      ].filter(Boolean).join(" · ") }),
      item.conversation ? conversationList(item.conversation) : el("p", { text: item.last_text || "" }),
      reply, close
    ]);
  }

  // --- the card ------------------------------------------------------------------------------
  function updateNextButton() {
    var button = document.getElementById("next");
    button.disabled = state.busy || state.card !== null;
    document.getElementById("next-hint").textContent = state.card ? "record a disposition first" : "";
  }

  function twilioCalling(card) {
    // The server says whether this caller's calls go through the business number.
    return root.dataset.voice === "twilio" && Boolean(card.to);
  }

  function next() {
    if (state.busy) { return; }
    if (state.card) { say("Record a disposition for this call before the next one.", true); return; }
    state.busy = true;
    updateNextButton();
    outcome("");
    api("POST", "/api/desk/next").then(function (answer) {
      state.busy = false;
      if (!answer.ok) { say("Next call refused: " + messageOf(answer), true); updateNextButton(); return; }
      say("");
      if (!answer.data.task) { say("Nothing is due now."); updateNextButton(); loadQueue(); return; }
      showCard(answer.data.task);
      loadQueue();
    });
  }

  function historyLine(entry) {
    // "2027-01-14 10:00 Toronto · step 1 SMS · done, sent · attempt 1" (a call: its status and length).
    if (typeof entry !== "object" || entry === null || !entry.at) { return describe(entry); }
    var parts = [local(entry.at)];
    parts.push((entry.kind === "call" ? "call" : "step " + (entry.step === null || entry.step === undefined ? "?" : entry.step) + " " + (entry.channel || "")).trim());
    parts.push(entry.status + (entry.outcome ? ", " + entry.outcome.replace(/_/g, " ") : ""));
    if (entry.attempt) { parts.push("attempt " + entry.attempt); }
    if (entry.duration_seconds !== null && entry.duration_seconds !== undefined) { parts.push(entry.duration_seconds + " s"); }
    return parts.join(" · ");
  }

  function waited(minutes) {
    if (minutes === null || minutes === undefined) { return null; }
    var m = Math.round(minutes);
    return m < 60 ? m + " min" : Math.floor(m / 60) + " h " + String(m % 60).padStart(2, "0") + " min";
  }

  function section(title, body) {
    return el("div", {}, [el("h3", { text: title }), body]);
  }

  function showCard(card) {
    state.card = card;
    var slot = document.getElementById("card-slot");
    slot.textContent = "";
    var history = el("ul", { className: "plain", id: "history" });
    (card.history || []).forEach(function (entry) { history.appendChild(el("li", { text: historyLine(entry) })); });
    if (!(card.history || []).length) { history.appendChild(el("li", { className: "muted", text: "No earlier attempt." })); }
    var times = card.local_times;
    // The lead's wall clock in each of its zones: "10:00 Toronto (2027-01-15)".
    var timeText = Array.isArray(times) ? times.map(function (t) {
      if (typeof t !== "object" || t === null) { return String(t); }
      var zone = t.timezone || t.zone;
      var text = local(t.local_time || t.local, zone);
      return text + (t.source ? " (" + t.source.replace(/_/g, " ") + ")" : "") + (t.open === false ? ", closed" : "");
    }).join("; ") : describe(times);
    var dispositions = el("div", { className: "dispositions", role: "group", "aria-label": "Disposition" },
      OUTCOMES.map(function (o, i) {
        var button = el("button", { type: "button", "data-outcome": o[0], className: o[0] === "do_not_call" ? "stop" : "" }, [o[1], el("kbd", { "aria-hidden": "true", text: String(i + 1) })]);
        button.addEventListener("click", function () { dispose(o[0]); });
        return button;
      }));
    var note = el("input", { type: "text", id: "note", name: "note", placeholder: "what happened (optional)" });
    var article = el("article", { className: "card", id: "card", "data-task-id": String(card.task_id), "data-lead-id": String(card.lead_id) }, [
      el("div", { className: "card-head" }, [
        el("h2", { id: "card-name", text: card.name || card.lead_id }),
        el("span", { className: "small muted", text: "task " + card.task_id + " · lead " + card.lead_id })
      ]),
      el("div", { className: "row" }, [el("span", { className: "number", id: "card-to", text: card.to || "no number" }), el("span", { id: "call-slot" })]),
      el("div", { className: "script", id: "script" }, [el("h3", { text: "Say first" }), el("p", { text: describe(card.script) })]),
      el("dl", { className: "kv" }, [
        el("dt", { text: "Local time" }), el("dd", { id: "local-times", text: timeText }),
        el("dt", { text: "Language" }), el("dd", { id: "language", text: describe(card.language) }),
        el("dt", { text: "Why a call is allowed" }), el("dd", { id: "allowed-because", text: describe(card.allowed_because) })
      ]),
      el("h3", { text: "Disposition" }), dispositions,
      el("label", { "for": "note", className: "small muted", text: "Note" }), note,
      section("Earlier attempts", history),
      section("Conversation", conversationList(card.conversation))
    ]);
    slot.appendChild(article);
    showCallControl(card);
    updateNextButton();
    clearInterval(state.checkTimer);
    // The decision can turn to no while the card is open (the window closes, a STOP arrives).
    state.checkTimer = setInterval(function () { if (state.card === card) { check(card); } }, 20000);
  }

  function showCallControl(card) {
    var slot = document.getElementById("call-slot");
    slot.textContent = "";
    var control;
    if (twilioCalling(card)) {
      control = el("button", { type: "button", className: "call big", id: "call", text: "Call" });
    } else {
      control = el("a", { className: "button", id: "call", href: card.tel || "tel:" + (card.to || "") }, ["Call"]);
    }
    control.addEventListener("click", function (event) { event.preventDefault(); call(card); });
    slot.appendChild(control);
  }

  function refuseCall(card, answer) {
    if (state.card !== card) { return; }
    var slot = document.getElementById("call-slot");
    slot.textContent = "";
    slot.appendChild(el("p", { className: "reason", id: "call-reason", role: "alert",
      text: "Do not call: " + (answer.message || answer.reason || "the contact decision is no") }));
  }

  function check(card) {
    // The contact decision now; a "no" replaces the call control with its reason.
    return api("GET", "/api/desk/" + card.task_id + "/check").then(function (answer) {
      if (!answer.ok) { say("The contact check failed: " + messageOf(answer), true); return false; }
      if (answer.data.allowed !== true) { refuseCall(card, answer.data); return false; }
      return true;
    });
  }

  function call(card) {
    if (state.card !== card || state.calling) { return; }
    state.calling = true;
    check(card).then(function (allowed) {
      if (!allowed) { state.calling = false; return; }
      if (!twilioCalling(card)) {
        state.calling = false;
        window.location.href = card.tel || "tel:" + card.to;
        return;
      }
      api("POST", "/api/desk/" + card.task_id + "/call", { claim_token: card.claim_token }).then(function (answer) {
        state.calling = false;
        if (answer.ok) { say("Your phone rings now; answer it and the lead is dialled from the business number."); return; }
        if (answer.data && answer.data.allowed === false) { refuseCall(card, answer.data); return; }
        say("The call was refused: " + messageOf(answer), true);
      });
    });
  }

  function dispose(code) {
    var card = state.card;
    if (!card || state.busy) { return; }
    state.busy = true;
    var note = document.getElementById("note");
    var label = OUTCOMES.filter(function (o) { return o[0] === code; })[0][1];
    api("POST", "/api/desk/" + card.task_id + "/disposition",
      { claim_token: card.claim_token, outcome: code, note: note && note.value ? note.value : null }).then(function (answer) {
      state.busy = false;
      var d = answer.data || {};
      if (answer.ok) {
        if (code === "do_not_call") {
          outcome((card.name || card.lead_id) + ": added to the do-not-call list on " + day(d.suppressed_on) +
            ", kept until " + day(d.kept_until) + ".");
        } else {
          outcome((card.name || card.lead_id) + ": " + label + " recorded" +
            (d.ladder_stopped ? "; the ladder stops." : "; the ladder goes on."));
        }
        closeCard();
      } else if (answer.status === 409 && (d.reason === "lease_lost" || /lease lost/.test(messageOf(answer)))) {
        outcome("Lease lost: another caller or the cron holds this task now; nothing was recorded.", true);
        closeCard();
      } else if (answer.status === 409) {
        outcome(messageOf(answer), true);
        closeCard();
      } else {
        say(label + " refused: " + messageOf(answer), true);
        updateNextButton();
      }
    });
  }

  function closeCard() {
    clearInterval(state.checkTimer);
    state.card = null;
    document.getElementById("card-slot").textContent = "";
    updateNextButton();
    loadQueue();
  }

  // --- keys ------------------------------------------------------------------------------
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) { return; }
    var target = event.target;
    var tag = target && target.tagName ? target.tagName.toLowerCase() : "";
    if (tag === "input" || tag === "textarea" || tag === "select" || (target && target.isContentEditable)) {
      // Escape leaves the field, so the keys work again.
      if (event.key === "Escape") { target.blur(); }
      return;
    }
    if (event.key === "n" || event.key === "N") { event.preventDefault(); next(); return; }
    var index = "1234567".indexOf(event.key);
    if (index >= 0 && event.key.length === 1) { event.preventDefault(); dispose(OUTCOMES[index][0]); }
  });

  document.getElementById("next").addEventListener("click", next);
  var replay = document.getElementById("replay");
  if (replay && AT) { replay.textContent = local(AT); }
  loadQueue();
}());
