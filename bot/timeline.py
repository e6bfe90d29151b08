"""A chat's transcript as the console shows it: who wrote what and when, topics by their titles, deliveries and events
in plain words, and the patient's chats with coordinators (when, who, how they ended) read from its events."""

from datetime import datetime

from bot.handoff import OUTCOMES

REASONS = {"asked": "asked for a person", "offer": "accepted the offer of a coordinator",
           "emergency": "possible emergency", "consultation": "Consultation request"}
# How a chat with coordinators ended, by the event that ended it (a closed chat says its outcome instead).
ENDINGS = {"returned": "Handed back to the assistant", "inactive": "Back with the assistant after a time without messages",
           "cancelled": "The patient cancelled the wait", "closed": "Closed"}
# What became of a message we sent, as Twilio and the job list report it: (a few words, what it means).
DELIVERY = {
    "queued": ("Waiting to go out", "Queued to be sent; Twilio has not reported it sent yet."),
    "accepted": ("Accepted by Twilio", "Twilio has it and is about to send it."),
    "scheduled": ("Scheduled", "Twilio sends it at its scheduled time."),
    "sending": ("Sending", "Twilio is passing it to WhatsApp."),
    "sent": ("Sent", "WhatsApp has it; it has not reached the patient's phone yet."),
    "delivered": ("Delivered", "It is on the patient's phone."),
    "read": ("Read", "The patient has opened it."),
    "held": ("Held until the patient writes", "WhatsApp's 24-hour window is closed: it goes out with the patient's "
                                              "next message."),
    "canceled": ("Cancelled", "It was cancelled before it went out."),
}
# Why Twilio or WhatsApp refused a message for good, by Twilio's error code.
REFUSALS = {
    21211: "the number is not a valid phone number",
    21408: "the Twilio account may not send to this country",
    21610: "the patient has opted out (STOP); nothing more is sent to them",
    21612: "Twilio cannot send from the clinic's number to this one",
    21614: "the number cannot receive these messages",
    30003: "the phone is switched off or out of reach",
    30005: "the number does not exist",
    30006: "the number is a landline or its network cannot be reached",
    30007: "the phone network filtered it out",
    30008: "WhatsApp gave no reason",
    63003: "the number is not on WhatsApp",
    63014: "the patient has blocked the clinic's number; nothing more is sent to them",
    63016: "WhatsApp's 24-hour window had closed",
    63024: "the number is not a valid WhatsApp recipient",
}


class Timeline:
    """The console's reading of transcripts, in the clinic's time zone, the knowledge's titles and the job list's retries."""

    def __init__(self, zone, knowledge, jobs):
        self.zone, self.knowledge = zone, knowledge
        self.attempts, self.backoff = jobs.attempts, jobs.backoff

    def local(self, at):
        """A Unix time as a date and time in the clinic's time zone."""
        return datetime.fromtimestamp(at, self.zone)

    def clock(self, at):
        """A Unix time as the console shows it: 04 Mar 14:05."""
        return self.local(at).strftime("%d %b %H:%M")

    def entry(self, entry, profile, deliveries, number):
        """One transcript entry as the console shows it: who, when, what, its topic, and for ours their delivery."""
        role = entry.get("role")
        who = {"patient": profile or "Patient", "assistant": "Assistant",
               "coordinator": f"Coordinator {entry.get('by', '')}".strip(), "template": "Template",
               "event": "Event"}.get(role, role)
        text = entry.get("text", "")
        if role == "event":
            text = self.event(entry)
        elif role == "template":
            text = f"Approved template {entry.get('content_sid', '')} sent: WhatsApp's 24-hour window was closed."
        elif entry.get("media"):
            text = f"{text} [{entry['media']} attachment(s) not shown]".strip()
        state = deliveries.get(entry.get("ref"), "") if entry.get("ref") else ""
        status, note = self.delivery(state) if state else ("", "")
        return {"role": role, "who": who, "time": self.clock(entry["at"]), "text": text, "anchor": f"entry-{number}",
                "intent": self.topic(entry.get("intent")), "delivery": state, "status": status, "status_note": note,
                "problem": state.split(" ")[0] in ("failed", "undelivered", "retrying")}

    def topic(self, intent_id):
        """The title of the topic the assistant matched ("" for none); a topic an edit removed keeps its id, in words."""
        if not intent_id:
            return ""
        intents = self.knowledge.intents
        if intent_id in intents:
            return intents[intent_id].title
        parent, _, part = intent_id.partition(".")
        if part and parent in intents:
            return f"{intents[parent].title}: {part.replace('_', ' ')}"
        return intent_id.replace("_", " ")

    def delivery(self, state):
        """A delivery state ("delivered", "retrying", "failed 63016") as (a few words, what it means)."""
        kind, _, code = state.partition(" ")
        if kind == "retrying":
            total = round(self.backoff * (2 ** (self.attempts - 1) - 1) / 60)
            return ("Not delivered yet", "Twilio refused it for now, or could not be reached; it is sent again "
                    f"automatically, up to {self.attempts} tries in all, waiting longer each time (about {total} minutes "
                    "in all). If every try fails it shows here as not delivered.")
        if kind in ("failed", "undelivered"):
            reason = REFUSALS.get(int(code)) if code.isdigit() else None
            why = f"{reason} (Twilio error {code})" if reason else (f"Twilio error {code}" if code else
                                                                      f"Twilio refused it or could not be reached "
                                                                      f"{self.attempts} times")
            return "Not delivered", f"Not delivered: {why}. It is not sent again; write again or call the patient."
        return DELIVERY.get(kind, (state, ""))

    def event(self, entry):
        """What happened, in a sentence: waiting, claimed, given to a colleague, booked, ended."""
        by, event = entry.get("by", ""), entry.get("event")
        if event == "waiting":
            return f"Waiting for a coordinator: {REASONS.get(entry.get('reason'), entry.get('reason'))}."
        if event == "claimed":
            return f"{by} took the chat."
        if event in ("assigned", "transferred"):
            return f"{by} {event} the chat to {entry.get('to')}."
        if event == "booked":
            return f"{by} booked the consultation for {self.local(entry['when']).strftime('%d %b %Y %H:%M')}."
        if event == "cancelled":
            return "The patient cancelled the wait and went back to the assistant."
        if event == "inactive":
            return "Back with the assistant after a time without messages."
        if event == "rate_limited":
            return (f"Over the rate limit ({entry.get('limit')} messages in {entry.get('window_s')} s): the patient's next "
                    "messages are kept but not answered until the window is over.")
        if event == "refused":
            return (f"{entry.get('count')} message(s) sent over the rate limit not kept (the transcript is full), "
                    f"the last at {self.clock(entry['last'])}.")
        if entry.get("outcome"):
            return f"{by} closed the chat: {OUTCOMES.get(entry['outcome'], entry['outcome'])}."
        return f"{by} handed the chat back to the assistant."

    def handoffs(self, entries):
        """The patient's chats with coordinators, newest first: when each began and ended, why, who had it, how it ended,
        and the anchor of its first entry in the transcript."""
        chats = []
        for number, entry in enumerate(entries):
            event = entry.get("event") if entry.get("role") == "event" else None
            if event == "waiting":
                chats.append({"began": self.clock(entry["at"]), "ended": "", "people": [], "outcome": "",
                              "reason": REASONS.get(entry.get("reason"), entry.get("reason") or ""),
                              "anchor": f"entry-{number}"})
            elif not chats or chats[-1]["ended"]:
                continue  # the start of this chat is older than the transcript keeps
            elif event in ("claimed", "assigned", "transferred"):
                person = entry.get("to") if event != "claimed" else entry.get("by")
                if person and person not in chats[-1]["people"]:
                    chats[-1]["people"].append(person)
            elif event in ENDINGS:
                outcome = entry.get("outcome")
                chats[-1].update(ended=self.clock(entry["at"]),
                                 outcome=OUTCOMES.get(outcome, outcome) if outcome else ENDINGS[event])
        return chats[::-1]
