"""Transcripts: every message of a conversation, both sides and what happened, kept for the retention time."""

import json
import time

# How far back from a transcript's end unread messages are counted: more shows as that many.
UNREAD_LIMIT = 99


def entry(role, text, message_sid, details):
    """One transcript entry as JSON; `sid` marks the patient's message Twilio identified."""
    item = {"at": time.time(), "role": role, "text": text, **details}
    if message_sid:
        item["sid"] = message_sid
    return json.dumps(item, ensure_ascii=False)


class Transcripts:
    """Entries written outside a patient's turn (a coordinator's, a notice, a message kept after a failure), and reading."""

    def append(self, sender, role, text, message_sid="", **details):
        """Add one message (role: patient, assistant or coordinator) to the transcript.

        With a `message_sid` the message is recorded once only, however often it is appended (Twilio's
        retries, a replay after an outage), and the sid counts as seen; returns False when it was there.
        """
        keys = {"transcript": self.keys.of("transcript", sender), "contact": self.keys.of("contact", sender),
                "seen": self.keys.seen(message_sid) if message_sid else self.keys.unused, "history": self.keys.history}
        # The sid is remembered as long as the conversation.
        args = {"entry": entry(role, text, message_sid, details), "retention": self.retention_seconds, "sender": sender,
                "has_sid": bool(message_sid)}
        return bool(self.scripts["append"](self.redis, keys, args))

    def transcript(self, sender):
        """The sender's messages, oldest first."""
        return [json.loads(item) for item in self.redis.lrange(self.keys.of("transcript", sender), 0, -1)]

    def last_from_patient(self, sender):
        """When the patient last wrote (Unix time), from the transcript; None when never."""
        for item in reversed(self.redis.lrange(self.keys.of("transcript", sender), 0, -1)):
            item = json.loads(item)
            if item.get("role") == "patient":
                return item["at"]
        return None

    def unread(self, since):
        """{sender: how many messages the patient wrote after the time given}, for {sender: Unix time}, read from
        the end of each transcript (at most UNREAD_LIMIT back, so a long conversation costs no more than a short one)."""
        pipe = self.redis.pipeline(transaction=False)
        for sender in since:
            pipe.lrange(self.keys.of("transcript", sender), -UNREAD_LIMIT, -1)
        counts = {}
        for (sender, mark), raw in zip(since.items(), pipe.execute()):
            entries = map(json.loads, raw)
            counts[sender] = sum(1 for item in entries if item.get("role") == "patient" and item["at"] > mark)
        return counts
