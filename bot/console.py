"""The coordinators' console: log in, see the queue, claim a chat, read it, reply, take notes, hand back, close.
Its inbox pages (history, search, giving a chat to a colleague) are in inbox.py, on the same blueprint."""

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
from bot.timeline import REASONS, Timeline

log = logging.getLogger(__name__)
bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates", static_folder="static")

# Checked against when the account does not exist, so a wrong name takes as long as a wrong password.
_NO_ACCOUNT = generate_password_hash("no account has this password")
MAX_NOTE = 2000
# The queue's filters: {value in the address: what the link says}.
FILTERS = {"all": "All", "urgent": "Urgent", "mine": "Mine", "waiting": "Waiting"}


def hash_password(password):
    """The stored form of a console password (salted, slow hash)."""
    return generate_password_hash(password)


def current_handoff():
    """The app's handoff (and through it the store and the job list)."""
    return current_app.extensions["assistant"].handoff


def current_settings():
    """The app's settings."""
    return current_app.config["SETTINGS"]


def current_timeline():
    """How this request shows transcripts: the clinic's time zone, the knowledge as it is now, the job list's retries."""
    handoff = current_handoff()
    return Timeline(handoff.hours.zone, handoff.knowledge_file.current(), handoff.jobs)


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
    found = current_handoff().store.coordinator(name) if name else None
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
    return {"sending_missing": current_settings().sending_missing}


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
    settings, store = current_settings(), current_handoff().store
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
    current_handoff().store.end_sessions(session["coordinator"])
    session.clear()
    return redirect(url_for("console.login"))


@bp.get("/")
def queue():
    """The waiting chats (urgent first, then the longest wait) and the chats coordinators have taken, filtered."""
    view = _queue_view(_filter())
    return render_template("queue.html", **view, filters=FILTERS,
                           urgent_count=sum(chat["urgent"] for chat in view["all_waiting"]))


@bp.get("/queue.json")
def queue_json():
    """The same queue, for the page to refresh itself without a reload."""
    return jsonify(_queue_view(_filter()))


def _filter():
    show = request.args.get("show", "all")
    return show if show in FILTERS else "all"


def _queue_view(show):
    """The queue under the filter `show`; `all_waiting` is every waiting chat whatever the filter, so that the page
    can announce a new one (and sound for an urgent one) on any filter."""
    handoff, now, me = current_handoff(), time.time(), session["coordinator"]
    waiting_chats, claimed_chats = handoff.store.waiting(), handoff.store.claimed()
    unread = _unread(waiting_chats + claimed_chats)
    waiting = [{**_summary(chat, unread), "reason": REASONS.get(chat["reason"], chat["reason"]), "urgent": chat["urgent"],
                "waited": _minutes(now - chat["since"])} for chat in waiting_chats
               if show in ("all", "waiting") or (show == "urgent" and chat["urgent"])]
    claimed = [{**_summary(chat, unread), "coordinator": chat.get("coordinator", ""), "urgent": chat["urgent"],
                "mine": chat.get("coordinator") == me} for chat in claimed_chats
               if show == "all" or (show == "urgent" and chat["urgent"]) or (show == "mine" and chat.get("coordinator") == me)]
    failures = [{**failure, "time": current_timeline().clock(failure["at"])} for failure in handoff.jobs.failures(5)]
    return {"show": show, "waiting": waiting, "claimed": claimed, "failures": failures, "open": handoff.hours.is_open(now),
            "notices": _notices(me),
            "all_waiting": [{"id": chat["id"], "profile": chat.get("profile") or "(no name)", "urgent": chat["urgent"]}
                            for chat in waiting_chats]}


def _unread(chats):
    """{sender: the patient's messages since the holder last read the chat (a waiting chat: any coordinator), or since
    it was queued when nobody has}."""
    store = current_handoff().store
    marks = store.read_marks([chat["id"] for chat in chats])
    since = {}
    for chat in chats:
        read = marks[chat["id"]]
        last = read.get(chat.get("coordinator", "").lower(), 0) if chat["status"] == "claimed" else max(read.values(), default=0)
        since[chat["sender"]] = max(last, chat["since"])
    return store.unread(since)


def _notices(me):
    """What colleagues gave `me` and `me` has not opened yet, oldest first; notices about chats no longer theirs go."""
    store, timeline, shown, stale = current_handoff().store, current_timeline(), [], []
    for chat_id, notice in sorted(store.notices(me).items(), key=lambda item: item[1]["at"]):
        sender = store.sender_of(chat_id)
        chat = store.chat(sender) if sender else None
        if not chat or chat.get("coordinator") != me:
            stale.append(chat_id)
            continue
        done = "assigned" if notice["kind"] == "assign" else "transferred"
        shown.append({"text": f"{notice['by']} {done} you a chat with {chat.get('profile') or 'a patient'}.",
                      "time": timeline.clock(notice["at"]), "url": url_for("console.conversation", chat_id=chat_id)})
    store.drop_notices(me, *stale)
    return shown


def _summary(chat, unread):
    form = chat["form"] if chat.get("reason") == "consultation" and chat.get("form") else None
    return {"id": chat["id"], "profile": chat.get("profile") or "(no name)", "number": mask(chat["sender"]),
            "facts": consultations.facts(form) if form else "",
            "booked": consultations.booked(chat, current_handoff().hours.zone),
            "unread": unread.get(chat["sender"], 0),
            "url": url_for("console.conversation", chat_id=chat["id"]),
            "claim_url": url_for("console.claim", chat_id=chat["id"])}


def _minutes(seconds):
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def chat_sender(chat_id):
    """The sender behind a chat id; 404 when there is none (an unknown id, or one whose patient was erased)."""
    sender = current_handoff().store.sender_of(chat_id)
    if not sender:
        abort(404)
    return sender


@bp.post("/chats/<chat_id>/claim")
def claim(chat_id):
    """Take a waiting chat; when another coordinator was quicker, say who."""
    handoff, sender = current_handoff(), chat_sender(chat_id)
    if handoff.claim(sender, session["coordinator"]):
        log.info("chat %s claimed", chat_id)
        return redirect(url_for("console.conversation", chat_id=chat_id))
    chat = handoff.store.chat(sender)
    holder = chat.get("coordinator") if chat else None
    flash(f"{holder} took this chat first." if holder else "This chat is no longer waiting.", "error")
    return redirect(url_for("console.queue"))


@bp.get("/chats/<chat_id>")
def conversation(chat_id):
    """The whole conversation with its notes, the patient's chats with coordinators, canned replies and the reply box."""
    return render_template("chat.html", **_conversation_view(chat_id))


@bp.get("/chats/<chat_id>.json")
def conversation_json(chat_id):
    """The transcript and state, for the page to show new messages without a reload."""
    view = _conversation_view(chat_id)
    return jsonify({key: view[key] for key in ("entries", "state", "window_open", "held")})


def _conversation_view(chat_id):
    """Everything the chat's page shows; opening it (or its page refreshing) marks it read for the coordinator."""
    handoff, sender, me, timeline = current_handoff(), chat_sender(chat_id), session["coordinator"], current_timeline()
    chat = handoff.store.chat(sender)
    handoff.store.mark_read(chat_id, me)
    handoff.store.drop_notices(me, chat_id)
    profile = (chat or {}).get("profile") or handoff.store.contact(sender)["profile"]
    deliveries = handoff.store.deliveries(sender)
    transcript = handoff.store.transcript(sender)
    entries = [timeline.entry(entry, profile, deliveries, n) for n, entry in enumerate(transcript)]
    mine = bool(chat) and chat["status"] == "claimed" and chat.get("coordinator") == me
    last = handoff.store.last_from_patient(sender)
    return {
        "chat_id": chat_id, "chat": chat, "mine": mine, "entries": entries, "profile": profile,
        "number": sender if mine else mask(sender),
        "state": _state(chat),
        "reason": REASONS.get(chat["reason"], chat["reason"]) if chat else "",
        "handoffs": timeline.handoffs(transcript),
        "colleagues": [name for name in handoff.store.coordinator_names() if name != me],
        "notes": [{**note, "time": timeline.clock(note["at"])} for note in handoff.store.notes(sender)],
        "held": [entry["text"] for entry in handoff.store.held(sender)],
        "window_open": handoff.window_open(sender),
        "last_from_patient": timeline.clock(last) if last else "never",
        "template_set": bool(current_settings().WINDOW_TEMPLATE_SID),
        "canned": _canned(handoff.knowledge_file.current(), handoff.store.load(sender).get("lang", "en")),
        "outcomes": list(OUTCOMES.items()),
        "max_body": MAX_BODY,
        "form": consultations.fields(chat["form"]) if chat and chat.get("form") else [],
        "booked": consultations.booked(chat, handoff.hours.zone),
        "booked_value": timeline.local(chat["booked_at"]).strftime("%Y-%m-%dT%H:%M") if chat and chat["booked_at"] else "",
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


def _own_chat(chat_id):
    """The sender of a chat the logged-in coordinator has claimed; otherwise back to the page with a reason."""
    sender = chat_sender(chat_id)
    chat = current_handoff().store.chat(sender)
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
    missing = current_settings().sending_missing
    if sender and missing:
        flash(f"Replies cannot be sent: sending through Twilio is not set up ({', '.join(missing)}). "
              "Your text was not sent.", "error")
    elif sender and not text:
        flash("Type a reply first.", "error")
    elif sender and len(text) > MAX_BODY:
        flash(f"A WhatsApp message can hold {MAX_BODY} characters; this one has {len(text)}.", "error")
    elif sender:
        outcome = current_handoff().reply(sender, session["coordinator"], text)
        if outcome == "held":
            flash("The patient's last message is more than 24 hours old, so WhatsApp does not allow free text. "
                  + ("The approved template was sent asking them to write back; " if current_settings().WINDOW_TEMPLATE_SID
                     else "No template is set (WINDOW_TEMPLATE_SID), so the patient has not been asked to write back; ")
                  + "your text is held and goes out as soon as they answer.", "warning")
    return redirect(url_for("console.conversation", chat_id=chat_id))


@bp.post("/chats/<chat_id>/note")
def note(chat_id):
    """Add a private note (never sent to the patient)."""
    sender = chat_sender(chat_id)
    text = request.form.get("text", "").strip()
    if text:
        current_handoff().add_note(sender, session["coordinator"], text[:MAX_NOTE])
    return redirect(url_for("console.conversation", chat_id=chat_id))


@bp.post("/chats/<chat_id>/handback")
def hand_back(chat_id):
    """Return the chat to the assistant; the patient is told."""
    sender = _own_chat(chat_id)
    if sender and current_handoff().hand_back(sender, session["coordinator"]):
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
    elif sender and current_handoff().hand_back(sender, session["coordinator"], outcome=outcome, event="closed"):
        flash(f"Chat closed: {OUTCOMES[outcome]}.", "info")
        return redirect(url_for("console.queue"))
    return redirect(url_for("console.conversation", chat_id=chat_id))


@bp.post("/chats/<chat_id>/book")
def book(chat_id):
    """Mark a consultation request booked for a date and time (clinic time); the patient is told and reminded."""
    sender, handoff = _own_chat(chat_id), current_handoff()
    try:
        when = datetime.fromisoformat(request.form.get("when", "")).replace(tzinfo=handoff.hours.zone)
    except ValueError:
        when = None
    missing = current_settings().sending_missing
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


# The inbox's pages (history and search, giving a chat to a colleague) join this blueprint, its login and CSRF checks.
from bot import inbox  # noqa: E402, F401  (inbox.py adds its routes to `bp` with the helpers above)
