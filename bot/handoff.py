"""Handing a chat from the assistant to a care coordinator and back, telling the patient at each change."""

import logging
import time
import uuid

from bot import consultations, metrics
from bot.knowledge import fill
from bot.logs import mask
from bot.outbound import OPTED_OUT_CODES, WINDOW_CLOSED
from bot.replies import Words
from bot.store import Escalation

log = logging.getLogger(__name__)

# WhatsApp lets a business send free text only within 24 hours of the patient's last message.
WINDOW_SECONDS = 24 * 3600
# How a coordinator closes a chat: {outcome: what the console calls it}.
OUTCOMES = {"answered": "Question answered", "call_booked": "Call or consultation booked",
            "referred_to_care_team": "Referred to the care team", "no_reply": "Patient stopped replying",
            "other": "Other"}


class Handoff:
    """The handoff queue's moves: escalate, claim, reply, hold, hand back, sweep; and what each one says."""

    def __init__(self, store, jobs, knowledge_file, settings):
        self.store, self.jobs, self.knowledge_file, self.settings = store, jobs, knowledge_file, settings
        self.hours = settings.office_hours

    def say(self, name, words=None, **values):
        """A message from responses.yaml with its placeholders filled in, in the patient's language (`words`) or English."""
        words = words or Words(self.knowledge_file.current(), self.settings, {})
        return words.message(name, **values)

    # The patient's side.

    def escalate(self, inbound, conversation, reason, urgent=False, now=None, form=None):
        """Queue the chat for a coordinator (urgent ones on top) as the patient's turn ends; `turn_ended` alerts.

        `conversation` is the patient's turn (store.Conversation): the chat's event goes to the transcript with it.
        `form` is what the patient filled in for the coordinator (a consultation request), kept on the chat.
        """
        now = time.time() if now is None else now
        # Outside office hours only urgent chats wake anyone; the others alert when the office opens.
        alerting = urgent or self.hours.is_open(now)
        # The escalation records the alert's time itself, so alerting costs no round trip of its own.
        conversation.escalate(reason, urgent, inbound.profile_name, now, alerting, form)

    def turn_ended(self, sender, conversation):
        """Once the patient's turn is written: alert about its escalation, send the coordinator's messages it took."""
        if conversation.erased:
            # "Delete my data": what was still to go to them (a reminder, a reply being retried) goes too.
            self.jobs.forget(sender)
            return
        if conversation.escalation:
            self._announce(conversation.escalation)
        # The patient's message reopened WhatsApp's window: what the coordinator wrote meanwhile goes out now.
        for entry in conversation.taken:
            self._queue_for_patient(sender, entry["text"], entry["ref"], by=entry.get("by", ""))

    def emergency_unanswered(self, inbound, now=None):
        """A message describing an emergency that could not be answered: its chat goes urgent to the queue all the same."""
        escalation = Escalation("emergency", True, inbound.profile_name, time.time() if now is None else now, True)
        self.store.escalate(inbound.sender, escalation)
        if escalation.change == "new":
            self.store.append(inbound.sender, "event", "", event="waiting", reason="emergency")
        self._announce(escalation)

    def _announce(self, escalation):
        """Count, alert and log an escalation once the store has written it."""
        if escalation.change == "new":
            metrics.HANDOFFS.inc()
        if escalation.change and escalation.alerting:
            self._alert(escalation.chat, "alert_urgent" if escalation.urgent else "alert_new", escalation.since)
        urgent = ", urgent" if escalation.urgent else ""
        log.info("chat %s escalated (%s%s)", escalation.chat["id"], escalation.reason, urgent)

    def waiting_message(self, words, reply=None, now=None):
        """What a patient joining the queue is told: `reply` (or handoff_waiting) in office hours, the next opening outside."""
        now = time.time() if now is None else now
        if self.hours.is_open(now):
            return reply or self.say("handoff_waiting", words)
        return self.say("handoff_after_hours", words, opens=self.hours.opening_text(now))

    def emergency_followup(self, words, now=None):
        """What a patient sent the emergency reply hears about a person answering: soon, or from the next opening."""
        now = time.time() if now is None else now
        if self.hours.is_open(now):
            return self.say("emergency_in_hours", words)
        return self.say("emergency_after_hours", words, opens=self.hours.opening_text(now))

    def patient_wrote(self, conversation, command, words, now=None):
        """A message while a coordinator is awaited or writing: the replies (usually none: the assistant is silent)."""
        status = conversation.chat["status"]
        if status == "waiting" and command == "cancel":
            conversation.release("cancelled")
            return [self.say("handoff_cancelled", words)]
        if status == "claimed":
            conversation.touch(now)
            # Sent once the turn is written (turn_ended).
            conversation.take_held()
        return []

    # The coordinators' side.

    def claim(self, sender, coordinator):
        """Give the waiting chat to `coordinator` and tell the patient their first name; False when someone else won."""
        if not self.store.claim(sender, coordinator):
            return False
        self.store.append(sender, "event", "", event="claimed", by=coordinator)
        # Past WhatsApp's window the notice could not arrive; the coordinator's first reply sends the template.
        if self.window_open(sender):
            self.tell(sender, "handoff_claimed", coordinator=first_name(coordinator))
        return True

    def assign(self, sender, coordinator, colleague, transfer=False):
        """Give a waiting chat (or with `transfer` the chat `coordinator` holds) to a colleague, noted in the transcript;
        the patient is told the new first name as a claim tells it. Returns (outcome, name) as Store.assign."""
        outcome, name = self.store.assign(sender, coordinator, colleague, transfer)
        if outcome not in ("assigned", "transferred"):
            return outcome, name
        self.store.append(sender, "event", "", event=outcome, by=coordinator, to=name)
        if self.window_open(sender):
            self.tell(sender, "handoff_claimed", coordinator=first_name(name))
        log.info("chat %s %s to a colleague", self.store.chat_id(sender), outcome)
        return outcome, name

    def reply(self, sender, coordinator, text, now=None):
        """Send a coordinator's text, or hold it when the 24-hour window is closed; returns "queued" or "held"."""
        now = time.time() if now is None else now
        ref = uuid.uuid4().hex
        self.store.append(sender, "coordinator", text, by=coordinator, ref=ref)
        self.store.touch(sender, now)
        if not self.window_open(sender, now):
            self.hold(sender, ref, text, coordinator)
            return "held"
        self._queue_for_patient(sender, text, ref, by=coordinator)
        return "queued"

    def window_open(self, sender, now=None):
        """True when the patient wrote within the last 24 hours, so free text may be sent."""
        last = self.store.last_from_patient(sender)
        return last is not None and (time.time() if now is None else now) - last < WINDOW_SECONDS

    def hold(self, sender, ref, text, coordinator):
        """Keep the text until the patient writes; the first held text sends the approved template inviting them to."""
        first = not self.store.held(sender)
        self.store.hold(sender, {"ref": ref, "text": text, "by": coordinator})
        self.store.delivery(sender, ref, "held")
        if not first:
            return
        if not self.settings.WINDOW_TEMPLATE_SID:
            log.warning("chat %s: the 24-hour window is closed and WINDOW_TEMPLATE_SID is not set", self.store.chat_id(sender))
            return
        chat = self.store.chat(sender) or {}
        variables = {key: fill(value, coordinator=first_name(coordinator), patient=chat.get("profile", ""))
                     for key, value in self.settings.template_variables.items()}
        template_ref = uuid.uuid4().hex
        self.store.append(sender, "template", "", ref=template_ref, content_sid=self.settings.WINDOW_TEMPLATE_SID)
        self.store.delivery(sender, template_ref, "queued")
        self.jobs.add({"kind": "template", "to": sender, "content_sid": self.settings.WINDOW_TEMPLATE_SID,
                       "variables": variables, "chat": sender, "ref": template_ref})

    def book(self, sender, coordinator, when, now=None):
        """Book a consultation request for `when` (aware, clinic time): the patient is told in their language as a
        reply is (or it is held past the window), and reminded the day before. "queued", "held" or None (no chat)."""
        now = time.time() if now is None else now
        chat = self.store.chat(sender)
        if not chat or not self.store.book(sender, when.timestamp(), coordinator):
            return None
        form = chat.get("form") or {}
        booking = uuid.uuid4().hex
        self.store.append(sender, "event", "", event="booked", by=coordinator, when=when.timestamp(), booking=booking)
        words = Words(self.knowledge_file.current(), self.settings, {"lang": form.get("lang", "en")})
        values = {"when": consultations.when_text(when, words.lang), "reference": form.get("reference", ""),
                  "kind": self.say("booking_video" if form.get("call") == "video" else "booking_phone", words)}
        sent = self.reply(sender, coordinator, self.say("booking_confirmed", words, **values), now)
        due = consultations.reminder_due(when, now)
        if due is not None:
            # Checked again when due (remind): a later booking or an erasure leaves this one unsent.
            self.jobs.add({"kind": "reminder", "to": sender, "chat": sender, "booking": booking, "by": coordinator,
                           "body": self.say("booking_reminder", words, **values)}, at=due)
        log.info("chat %s: consultation booked", chat.get("id"))
        return sent

    def remind(self, job, now=None):
        """A consultation's reminder come due (called by the worker): sent as a notice, or held past the window;
        nothing when the consultation was booked again since, the patient opted out or their data was erased."""
        sender = job["chat"]
        booked = [e for e in self.store.transcript(sender) if e.get("event") == "booked"]
        if not booked or booked[-1].get("booking") != job["booking"] or self.store.opted_out(sender):
            return
        ref = uuid.uuid4().hex
        self.store.append(sender, "assistant", job["body"], ref=ref)
        if self.window_open(sender, now):
            self._queue_for_patient(sender, job["body"], ref, by=job.get("by", ""))
        else:
            self.hold(sender, ref, job["body"], job.get("by", ""))

    def add_note(self, sender, coordinator, text):
        """A private note for the coordinators."""
        self.store.add_note(sender, coordinator, text)

    def hand_back(self, sender, coordinator="", outcome=None, event="returned"):
        """Return the chat to the assistant and tell the patient; False when it had already ended."""
        chat = self.store.release(sender)
        if not chat:
            return False
        if outcome:
            self.store.count_outcome(outcome)
        self.store.append(sender, "event", "", event=event, by=coordinator, outcome=outcome or "")
        # Outside WhatsApp's window the notice could not be delivered; the next message finds the assistant anyway.
        if self.window_open(sender):
            self.tell(sender, "handoff_returned")
        log.info("chat %s back with the assistant (%s)", chat.get("id"), event)
        return True

    def tell(self, sender, message, **values):
        """Send the patient a message from responses.yaml outside the webhook's answer, and put it in the transcript."""
        # Notices reach the patient in the language of their conversation.
        words = Words(self.knowledge_file.current(), self.settings, self.store.load(sender))
        text = self.say(message, words, **values)
        ref = uuid.uuid4().hex
        self.store.append(sender, "assistant", text, ref=ref)
        self._queue_for_patient(sender, text, ref)

    def _queue_for_patient(self, sender, text, ref, by=None):
        job = {"kind": "reply" if by is not None else "notice", "to": sender, "body": text, "chat": sender, "ref": ref}
        if by is not None:
            job.update(hold=True, by=by)
        self.store.delivery(sender, ref, "queued")
        self.jobs.add(job)

    def delivery(self, job, status, sid=None):
        """Record what became of a job's message (called by the worker)."""
        if job.get("chat") and job.get("ref"):
            self.store.delivery(job["chat"], job["ref"], status, sid)

    def status_callback(self, form):
        """Twilio's delivery report for a message we sent; False when the message is not one of ours."""
        sender, sid, status = form.get("To", ""), form.get("MessageSid", ""), form.get("MessageStatus", "")
        ref = self.store.delivery_ref(sender, sid) if sender and sid else None
        if not ref or not status:
            return False
        code = form.get("ErrorCode", "")
        # Checked by the webhook: digits, or nothing.
        number = int(code) if code else None
        if number in OPTED_OUT_CODES:
            # WhatsApp reports a block or an opt-out after accepting the message: send the patient nothing more.
            self.store.opt_out(sender)
        if number == WINDOW_CLOSED and self.store.chat(sender):
            # Accepted, then refused because the window had closed: hold it like any late reply.
            entry = next((e for e in self.store.transcript(sender) if e.get("ref") == ref and e["role"] == "coordinator"), None)
            if entry:
                self.hold(sender, ref, entry["text"], entry.get("by", ""))
                return True
        self.store.delivery(sender, ref, f"{status} {code}".strip() if status in ("failed", "undelivered") else status)
        return True

    # Alerts and the periodic sweep.

    def alert(self, chat, message, now=None):
        """Alert every on-duty number about the chat, and remember when."""
        now = time.time() if now is None else now
        self._alert(chat, message, now)
        self.store.alerted(chat["sender"], now)

    def _alert(self, chat, message, now):
        """Queue the alert to every on-duty number (through the job list, so nothing waits for Twilio)."""
        numbers = self.settings.on_duty
        if not numbers:
            log.warning("chat %s waits for a coordinator but ON_DUTY_NUMBERS is empty: nobody was alerted", chat["id"])
            return
        text = self.say(message, number=mask(chat["sender"]), waited=int((now - chat["since"]) // 60),
                        console=self.settings.PUBLIC_BASE_URL.rstrip("/") + "/console/")
        self.jobs.add_all([{"kind": "alert", "to": number, "body": text} for number in numbers])

    def sweep(self, now=None):
        """Alert again about chats left unclaimed too long; return idle chats to the assistant."""
        now = time.time() if now is None else now
        again = self.settings.ALERT_AGAIN_MINUTES * 60
        for chat in self.store.waiting():
            last = max(chat["alerted_at"], chat["since"])
            if now - last >= again and (chat["urgent"] or self.hours.is_open(now)):
                self.alert(chat, "alert_again", now)
        idle = self.settings.HANDBACK_AFTER_MINUTES * 60
        for chat in self.store.claimed():
            if now - chat["active_at"] >= idle:
                self.hand_back(chat["sender"], chat.get("coordinator", ""), event="inactive")


def first_name(name):
    """What the patient calls the coordinator: the first word of the account's name."""
    return (name or "").split(" ")[0]
