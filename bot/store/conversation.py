"""A sender's conversation: what their turn read of it, and what their message changes, written as the turn ends."""

import json
import time
from dataclasses import dataclass

from bot.store.transcripts import entry


@dataclass
class Escalation:
    """The sender's chat put in the coordinators' queue as the turn ends, and what the turn's end made of it."""

    reason: str
    urgent: bool
    profile: str
    since: float
    # The coordinators are alerted about a change now, so the chat records the time.
    alerting: bool
    # Once the turn has ended: the chat record, and "new", "urgent" (an existing chat just became urgent) or "".
    chat: dict | None = None
    change: str = ""
    # What the patient filled in for the coordinator (a consultation request: bot/booking.py), or None.
    form: dict | None = None


class Conversation:
    """A sender's conversation as read when their turn began, and what the message changes in it.

    Nothing is written before the turn ends: then every change goes to Redis in the one script that
    gives the turn back, so a message costs two round trips (take and read, write and give back).
    """

    def __init__(self, state, opted_out, chat, notice, chat_id=None, held=()):
        self.state = state
        self.opted_out = opted_out
        # The handoff's chat record while a coordinator is awaited or writing, else None.
        self.chat = chat
        # The version of the welcome notice the sender saw last, or None.
        self.notice = notice
        # The sender's chat id once a chat was made for them, else None.
        self.chat_id = chat_id
        # What a coordinator wrote while WhatsApp's window was closed, oldest first.
        self.held = list(held)
        self.entries = []  # (kind, transcript entry as JSON): kinds as end_turn.lua reads them
        self.saved = self.noticed = self.counted = self.question = self.consent = self.escalation = self.touched = None
        self.released = self.erased = False
        self.taken = []
        self.contact_name = None

    def append(self, role, text, message_sid="", **details):
        """Add one message to the transcript; with the turn's `message_sid`, only if that sid was never recorded."""
        self.entries.append(("message" if message_sid else "always", entry(role, text, message_sid, details)))

    def append_over_limit(self, text, message_sid="", **details):
        """Add the patient's message sent over the rate limit: kept below the transcript's limit, else counted."""
        self.entries.append(("over_limit", entry("patient", text, message_sid, details)))

    def know_as(self, profile):
        """Keep the patient's WhatsApp profile name with the conversation, so the console's history finds it by name."""
        self.contact_name = profile.strip()[:60] or None

    def save(self, state):
        """Keep the conversation state; everything kept about the sender expires after the retention time without a message."""
        self.saved = json.dumps(state, ensure_ascii=False)

    def record_notice(self, version):
        """Record which version of the welcome notice the sender was shown, and when."""
        self.noticed = json.dumps({"version": version, "at": time.time()})

    def count_message(self, intent=None):
        """Count the message for the day (and the patient, and the intent it got)."""
        self.counted = intent or ""

    def keep_unanswered(self, text):
        """Keep the message for operations, as a question the assistant could not answer (numbers in it hidden)."""
        self.question = text

    def opt_out(self):
        """The sender wants no messages (they wrote STOP, or Twilio refused a send to them)."""
        self.opted_out, self.consent = True, ("out", time.time())

    def opt_in(self):
        """The sender wrote START: messages may go to them again."""
        self.opted_out, self.consent = False, ("in", None)

    def escalate(self, reason, urgent=False, profile="", now=None, alerting=False, form=None):
        """Put the chat in the coordinators' queue unless it is there or claimed; urgent raises it to the top.

        A new chat's event goes to the transcript at this point of the turn's entries. Returns the Escalation,
        whose chat and change the turn's end fills in.
        """
        self.escalation = Escalation(reason, urgent, profile, time.time() if now is None else now, alerting, form=form)
        self.entries.append(("new_chat", entry("event", "", "", {"event": "waiting", "reason": reason})))
        return self.escalation

    def release(self, event):
        """End the handoff: the assistant answers again; `event` goes to the transcript if this turn ended it."""
        self.released = True
        self.entries.append(("released", entry("event", "", "", {"event": event})))

    def touch(self, now=None):
        """Note the patient's activity in a claimed chat, which postpones its automatic return to the assistant."""
        self.touched = time.time() if now is None else now

    def take_held(self):
        """The messages held for the patient, taken as the turn ends so that each is sent once."""
        self.taken = self.held
        return self.taken

    def erase(self):
        """Erase everything kept about the sender as the turn ends, this exchange included, ending any handoff."""
        self.erased = True

    def changes(self):
        """end_turn.lua's arguments for what the message changed here (None: unchanged), and its entries as pairs."""
        consent, opted_at = self.consent or (None, None)
        changes = {"state": self.saved, "notice": self.noticed, "consent": consent, "opted_at": opted_at,
                   "release": self.released, "touch": self.touched, "taken": len(self.taken),
                   "counted": self.counted is not None, "intent": self.counted, "contact_name": self.contact_name}
        return changes, [item for pair in self.entries for item in pair]


class Conversations:
    """A conversation's state and consent outside the sender's turn (a coordinator's page, a send Twilio refused)."""

    def load(self, sender):
        """The sender's conversation state, an empty dict for a new conversation."""
        raw = self.redis.get(self.keys.of("state", sender))
        return json.loads(raw) if raw else {}

    def opt_out(self, sender):
        """Remember that the sender wants no messages (Twilio refused a send to them: a block or an opt-out)."""
        self.redis.set(self.keys.of("optout", sender), str(time.time()), ex=self.retention_seconds)

    def opted_out(self, sender):
        """True when the sender wants no messages (STOP, or Twilio refused a send to them)."""
        return bool(self.redis.exists(self.keys.of("optout", sender)))
