"""The console as the clinic's inbox: every conversation, open or closed, found by name, number or words (a page, and
/console/chats.json), and a chat given to a colleague: a waiting one assigned, or one's own transferred."""

from flask import flash, jsonify, redirect, render_template, request, session, url_for

from bot.console import bp, chat_sender, current_handoff, current_timeline
from bot.logs import mask

# Conversations on a page of the history, and the most chats.json gives at once.
PAGE = 50
MAX_QUERY = 200
STATUS = {"waiting": "Waiting for a coordinator", "claimed": "With a coordinator", "closed": "Closed",
          "assistant": "With the assistant"}


@bp.get("/history")
def history():
    """Every conversation, newest first, or those a search finds; each leads to its page."""
    query, offset = _query(), _number("offset", 0, 0, 10**6)
    found, more = current_handoff().store.conversations(query, offset, PAGE)
    pages = {"newer": url_for("console.history", q=query or None, offset=max(0, offset - PAGE) or None) if offset else "",
             "older": url_for("console.history", q=query or None, offset=offset + PAGE) if more else ""}
    return render_template("history.html", query=query, chats=[_conversation(c) for c in found], first=offset + 1,
                           **pages)


@bp.get("/chats.json")
def chats_json():
    """The history as JSON: `q` (the search), `limit` (1 to PAGE, PAGE by default) and `offset`; newest first.

    {"chats": [{id, profile, number (masked), status, last_message_at (ISO 8601), ...}], "next_offset": int or null}.
    """
    limit, offset = _number("limit", PAGE, 1, PAGE), _number("offset", 0, 0, 10**6)
    found, more = current_handoff().store.conversations(_query(), offset, limit)
    return jsonify(chats=[_conversation(c) for c in found], next_offset=offset + limit if more else None)


def _query():
    return request.args.get("q", "").strip()[:MAX_QUERY]


def _number(name, default, lowest, highest):
    """A whole number from the address, kept within bounds; the default when it is missing or not a number."""
    try:
        return min(max(int(request.args.get(name, default)), lowest), highest)
    except ValueError:
        return default


def _conversation(found):
    """A conversation of the history as the page and chats.json show it."""
    chat, timeline = found["chat"], current_timeline()
    status = chat["status"] if chat else ("closed" if found["contact"]["handoffs"] else "assistant")
    match = found["match"]
    return {"id": found["id"], "profile": found["contact"]["profile"] or (chat or {}).get("profile") or "(no name)",
            "number": mask(found["sender"]), "status": status,
            "state": f"With {chat['coordinator']}" if status == "claimed" else STATUS[status],
            "coordinator": chat.get("coordinator", "") if chat else "", "urgent": bool(chat and chat["urgent"]),
            "last_message_at": timeline.local(found["at"]).isoformat(timespec="seconds"),
            "last_message": timeline.clock(found["at"]),
            "match": {"who": "Coordinator" if match["role"] == "coordinator" else "Patient", "text": match["text"],
                      "time": timeline.clock(match["at"])} if match else None,
            "url": url_for("console.conversation", chat_id=found["id"])}


@bp.post("/chats/<chat_id>/assign")
def assign(chat_id):
    """Give a waiting chat to a colleague, who is told on their queue page."""
    return _give(chat_id, transfer=False)


@bp.post("/chats/<chat_id>/transfer")
def transfer(chat_id):
    """Give the chat one holds to a colleague, who is told on their queue page."""
    return _give(chat_id, transfer=True)


def _give(chat_id, transfer):
    sender, colleague = chat_sender(chat_id), request.form.get("to", "").strip()[:60]
    if not colleague:
        flash("Choose the colleague to give the chat to.", "error")
        return redirect(url_for("console.conversation", chat_id=chat_id))
    outcome, name = current_handoff().assign(sender, session["coordinator"], colleague, transfer)
    if outcome in ("assigned", "transferred"):
        flash(f"The chat is now with {name}; they see it on their queue page.", "info")
        return redirect(url_for("console.queue"))
    flash({"no_account": f"There is no console account named {colleague}.",
           "same": "Choose a colleague other than yourself.",
           "not_waiting": f"This chat is no longer waiting: {name} has it." if name else "This chat is no longer waiting.",
           "not_yours": "Only the coordinator who has this chat can transfer it"
                        + (f"; it is with {name}." if name else "; nobody has it now.")}[outcome], "error")
    return redirect(url_for("console.conversation", chat_id=chat_id))
