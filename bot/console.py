"""The coordinators' console: log in, see the queue, claim a chat, read it, reply, take notes, hand back, close."""

import logging
import time
from datetime import datetime

from flask import Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.security import check_password_hash, generate_password_hash

from bot import consultations
from bot.handoff import OUTCOMES
from bot.inbound import MAX_BODY
from bot.logs import mask

log = logging.getLogger(__name__)
bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates", static_folder="static")

REASONS = {"asked": "asked for a person", "offer": "accepted the offer after two missed answers",
           "emergency": "possible emergency", "consultation": "Consultation request"}
# Checked against when the account does not exist, so a wrong name takes as long as a wrong password.
_NO_ACCOUNT = generate_password_hash("no account has this password")
MAX_NOTE = 2000


def hash_password(password):
    """The stored form of a console password (salted, slow hash)."""
    return generate_password_hash(password)


def _handoff():
    return current_app.extensions["assistant"].handoff


def _settings():
    return current_app.config["SETTINGS"]


@bp.before_request
def guard():
    """Every form carries a CSRF token; every page but the login needs a coordinator."""
    if request.method == "POST":
        current_app.extensions["csrf"].protect()
    if request.endpoint in ("console.login", "console.static") or _logged_in():
        return None
    if request.path.endswith(".json"):
        return jsonify(error="log in again"), 401
    return redirect(url_for("console.login"))


def _logged_in():
    """True while the session's account exists and has not ended its sessions (logout, new password or role)."""
    name = session.get("coordinator")
    found = _handoff().store.coordinator(name) if name else None
    if found and found["session"] and session.get("session") == found["session"]:
        g.account = found
        return True
    if name:
        session.clear()  # ended: the browser forgets the cookie
    return False


def account():
    """The logged-in coordinator's account, as read for this request (None outside the console's guard)."""
    return g.get("account")


@bp.app_context_processor
def sending():
    """What every console page shows when the app cannot send: replies and alerts would never leave."""
    return {"sending_missing": _settings().sending_missing}


@bp.errorhandler(CSRFError)
def refused(error):
    """A form without a valid CSRF token (another site's, or a page left open across a login) changes nothing."""
    log.warning("console form refused: %s", error.description)
    return render_template("refused.html"), 400


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The login form; repeated failures from one account or one address are refused for a while."""
    if request.method == "GET":
        return render_template("login.html")
    settings, store = _settings(), _handoff().store
    name = request.form.get("name", "").strip()[:60]
    password = request.form.get("password", "")[:200]
    address = request.remote_addr or "?"
    if not store.try_login(name, address, settings.LOGIN_MAX_FAILURES, settings.LOGIN_LOCK_MINUTES * 60):
        log.warning("console login refused after repeated failures")
        message = f"Too many failed logins. Please wait {settings.LOGIN_LOCK_MINUTES} minutes and try again."
        return render_template("login.html", error=message, name=name), 429
    found = store.coordinator(name) if name else None
    if check_password_hash(found["password"] if found else _NO_ACCOUNT, password) and found:
        store.login_succeeded(name, address)
        session.clear()
        session.permanent = True
        session["coordinator"] = found["name"]
        # Accounts made before sessions could be ended have no session value until one is made here.
        session["session"] = found["session"] or store.end_sessions(found["name"])
        log.info("coordinator logged in")
        return redirect(url_for("console.queue"))
    return render_template("login.html", error="Wrong name or password.", name=name), 401


@bp.post("/logout")
def logout():
    """End every session of the coordinator's account, in this browser and any other."""
    _handoff().store.end_sessions(session["coordinator"])
    session.clear()
    return redirect(url_for("console.login"))


@bp.get("/")
def queue():
    """The waiting chats (urgent first, then the longest wait) and the chats coordinators have taken."""
    return render_template("queue.html", **_queue_view())


@bp.get("/queue.json")
def queue_json():
    """The same queue, for the page to refresh itself without a reload."""
    return jsonify(_queue_view())


def _queue_view():
    handoff, now = _handoff(), time.time()
    waiting = [{**_summary(chat), "reason": REASONS.get(chat["reason"], chat["reason"]), "urgent": chat["urgent"],
                "waited": _minutes(now - chat["since"])} for chat in handoff.store.waiting()]
    claimed = [{**_summary(chat), "coordinator": chat.get("coordinator", ""), "urgent": chat["urgent"],
                "mine": chat.get("coordinator") == session["coordinator"]} for chat in handoff.store.claimed()]
    failures = [{**failure, "time": _clock(failure["at"])} for failure in handoff.jobs.failures(5)]
    return {"waiting": waiting, "claimed": claimed, "failures": failures,
            "open": handoff.hours.is_open(now)}


def _summary(chat):
    form = chat["form"] if chat.get("reason") == "consultation" and chat.get("form") else None
    return {"id": chat["id"], "profile": chat.get("profile") or "(no name)", "number": mask(chat["sender"]),
            "facts": consultations.facts(form) if form else "",
            "booked": consultations.booked(chat, _handoff().hours.zone),
            "url": url_for("console.conversation", chat_id=chat["id"]),
            "claim_url": url_for("console.claim", chat_id=chat["id"])}


def _minutes(seconds):
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def _clock(at):
    return _local(at).strftime("%d %b %H:%M")


def _local(at):
    return datetime.fromtimestamp(at, _handoff().hours.zone)


def _sender(chat_id):
    sender = _handoff().store.sender_of(chat_id)
    if not sender:
        abort(404)
    return sender


@bp.post("/chats/<chat_id>/claim")
def claim(chat_id):
    """Take a waiting chat; when another coordinator was quicker, say who."""
    handoff, sender = _handoff(), _sender(chat_id)
    if handoff.claim(sender, session["coordinator"]):
        log.info("chat %s claimed", chat_id)
        return redirect(url_for("console.conversation", chat_id=chat_id))
    chat = handoff.store.chat(sender)
    holder = chat.get("coordinator") if chat else None
    flash(f"{holder} took this chat first." if holder else "This chat is no longer waiting.", "error")
    return redirect(url_for("console.queue"))


@bp.get("/chats/<chat_id>")
def conversation(chat_id):
    """The whole conversation with its notes, canned replies and the reply box."""
    return render_template("chat.html", **_conversation_view(chat_id))


@bp.get("/chats/<chat_id>.json")
def conversation_json(chat_id):
    """The transcript and state, for the page to show new messages without a reload."""
    view = _conversation_view(chat_id)
    return jsonify({key: view[key] for key in ("entries", "state", "window_open", "held")})


def _conversation_view(chat_id):
    handoff, sender = _handoff(), _sender(chat_id)
    chat = handoff.store.chat(sender)
    deliveries = handoff.store.deliveries(sender)
    entries = [_entry(entry, chat, deliveries) for entry in handoff.store.transcript(sender)]
    mine = bool(chat) and chat["status"] == "claimed" and chat.get("coordinator") == session["coordinator"]
    last = handoff.store.last_from_patient(sender)
    return {
        "chat_id": chat_id, "chat": chat, "mine": mine, "entries": entries,
        "number": sender if mine else mask(sender),
        "state": _state(chat),
        "reason": REASONS.get(chat["reason"], chat["reason"]) if chat else "",
        "notes": [{**note, "time": _clock(note["at"])} for note in handoff.store.notes(sender)],
        "held": [entry["text"] for entry in handoff.store.held(sender)],
        "window_open": handoff.window_open(sender),
        "last_from_patient": _clock(last) if last else "never",
        "template_set": bool(_settings().WINDOW_TEMPLATE_SID),
        "canned": _canned(handoff.knowledge_file.current(), handoff.store.load(sender).get("lang", "en")),
        "outcomes": list(OUTCOMES.items()),
        "max_body": MAX_BODY,
        "form": consultations.fields(chat["form"]) if chat and chat.get("form") else [],
        "booked": consultations.booked(chat, handoff.hours.zone),
        "booked_value": _local(chat["booked_at"]).strftime("%Y-%m-%dT%H:%M") if chat and chat["booked_at"] else "",
    }


def _canned(knowledge, lang):
    """The ready-made replies as (title, text) in the conversation's language, or in English where there is none."""
    # `lang` follows the patient's messages also while a coordinator has the chat: a Hindi writer gets Hindi.
    return [(title, texts.get(lang) or texts["en"]) for title, texts in knowledge.coordinator_replies]


def _state(chat):
    if not chat:
        return "With the assistant"
    if chat["status"] == "waiting":
        return "Waiting for a coordinator" + (" (URGENT)" if chat["urgent"] else "")
    return f"With {chat.get('coordinator')}" + (" (URGENT)" if chat["urgent"] else "")


def _entry(entry, chat, deliveries):
    """One transcript line as the console shows it: who, when, what, and for our messages their delivery."""
    role = entry.get("role")
    who = {"patient": (chat or {}).get("profile") or "Patient", "assistant": "Assistant",
           "coordinator": f"Coordinator {entry.get('by', '')}".strip(), "template": "Template",
           "event": "Event"}.get(role, role)
    text = entry.get("text", "")
    if role == "event":
        text = _event_text(entry)
    elif role == "template":
        text = f"Approved template {entry.get('content_sid', '')} sent: WhatsApp's 24-hour window was closed."
    elif entry.get("media"):
        text = f"{text} [{entry['media']} attachment(s) not shown]".strip()
    return {"role": role, "who": who, "time": _clock(entry["at"]), "text": text,
            "intent": entry.get("intent") or "", "status": deliveries.get(entry.get("ref"), "") if entry.get("ref") else ""}


def _event_text(entry):
    by, event = entry.get("by", ""), entry.get("event")
    if event == "waiting":
        return f"Waiting for a coordinator: {REASONS.get(entry.get('reason'), entry.get('reason'))}."
    if event == "claimed":
        return f"{by} took the chat."
    if event == "booked":
        return f"{by} booked the consultation for {_local(entry['when']).strftime('%d %b %Y %H:%M')}."
    if event == "cancelled":
        return "The patient cancelled the wait and went back to the assistant."
    if event == "inactive":
        return "Back with the assistant after a time without messages."
    if event == "rate_limited":
        return (f"Over the rate limit ({entry.get('limit')} messages in {entry.get('window_s')} s): the patient's next "
                "messages are kept but not answered until the window is over.")
    if event == "refused":
        return (f"{entry.get('count')} message(s) sent over the rate limit not kept (the transcript is full), "
                f"the last at {_clock(entry['last'])}.")
    if entry.get("outcome"):
        return f"{by} closed the chat: {OUTCOMES.get(entry['outcome'], entry['outcome'])}."
    return f"{by} handed the chat back to the assistant."


def _own_chat(chat_id):
    """The sender of a chat the logged-in coordinator has claimed; otherwise back to the page with a reason."""
    sender = _sender(chat_id)
    chat = _handoff().store.chat(sender)
    if chat and chat["status"] == "claimed" and chat.get("coordinator") == session["coordinator"]:
        return sender
    flash("Claim this chat before writing to the patient." if chat and chat["status"] == "waiting"
          else "This chat is not yours: it is " + _state(chat).lower() + ".", "error")
    return None


@bp.post("/chats/<chat_id>/reply")
def reply(chat_id):
    """Send the coordinator's text to the patient (or hold it when WhatsApp's 24-hour window is closed)."""
    sender = _own_chat(chat_id)
    text = request.form.get("text", "").strip()
    missing = _settings().sending_missing
    if sender and missing:
        flash(f"Replies cannot be sent: sending through Twilio is not set up ({', '.join(missing)}). "
              "Your text was not sent.", "error")
    elif sender and not text:
        flash("Type a reply first.", "error")
    elif sender and len(text) > MAX_BODY:
        flash(f"A WhatsApp message can hold {MAX_BODY} characters; this one has {len(text)}.", "error")
    elif sender:
        outcome = _handoff().reply(sender, session["coordinator"], text)
        if outcome == "held":
            flash("The patient's last message is more than 24 hours old, so WhatsApp does not allow free text. "
                  + ("The approved template was sent asking them to write back; " if _settings().WINDOW_TEMPLATE_SID
                     else "No template is set (WINDOW_TEMPLATE_SID), so the patient has not been asked to write back; ")
                  + "your text is held and goes out as soon as they answer.", "warning")
    return redirect(url_for("console.conversation", chat_id=chat_id))


@bp.post("/chats/<chat_id>/note")
def note(chat_id):
    """Add a private note (never sent to the patient)."""
    sender = _sender(chat_id)
    text = request.form.get("text", "").strip()
    if text:
        _handoff().add_note(sender, session["coordinator"], text[:MAX_NOTE])
    return redirect(url_for("console.conversation", chat_id=chat_id))


@bp.post("/chats/<chat_id>/handback")
def hand_back(chat_id):
    """Return the chat to the assistant; the patient is told."""
    sender = _own_chat(chat_id)
    if sender and _handoff().hand_back(sender, session["coordinator"]):
        flash("The chat is back with the assistant; the patient has been told.", "info")
        return redirect(url_for("console.queue"))
    return redirect(url_for("console.conversation", chat_id=chat_id))


@bp.post("/chats/<chat_id>/close")
def close(chat_id):
    """Close the chat with an outcome; the patient goes back to the assistant and is told."""
    sender = _own_chat(chat_id)
    outcome = request.form.get("outcome", "")
    if sender and outcome not in OUTCOMES:
        flash("Choose how the chat ended.", "error")
    elif sender and _handoff().hand_back(sender, session["coordinator"], outcome=outcome, event="closed"):
        flash(f"Chat closed: {OUTCOMES[outcome]}.", "info")
        return redirect(url_for("console.queue"))
    return redirect(url_for("console.conversation", chat_id=chat_id))


@bp.post("/chats/<chat_id>/book")
def book(chat_id):
    """Mark a consultation request booked for a date and time (clinic time); the patient is told and reminded."""
    sender, handoff = _own_chat(chat_id), _handoff()
    try:
        when = datetime.fromisoformat(request.form.get("when", "")).replace(tzinfo=handoff.hours.zone)
    except ValueError:
        when = None
    missing = _settings().sending_missing
    if sender and not (handoff.store.chat(sender) or {}).get("form"):
        flash("Only a consultation request can be booked.", "error")
    elif sender and missing:
        flash(f"The patient cannot be told: sending through Twilio is not set up ({', '.join(missing)}). "
              "Nothing was booked.", "error")
    elif sender and (when is None or when.timestamp() <= time.time()):
        flash("Choose a date and time still ahead for the consultation.", "error")
    elif sender:
        sent = handoff.book(sender, session["coordinator"], when)
        flash(f"Booked for {consultations.when_text(when, 'en')}. The patient has been sent the confirmation"
              + (" (held until they write: WhatsApp's 24-hour window is closed)." if sent == "held" else ".")
              + " A reminder goes the day before.", "info")
    return redirect(url_for("console.conversation", chat_id=chat_id))
