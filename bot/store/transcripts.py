"""Transcripts: every message of a conversation, both sides and what happened, kept for the retention time."""

import json
import time


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
        key, raw = self.keys.of("transcript", sender), entry(role, text, message_sid, details)
        if message_sid:
            args = [raw, self.retention_seconds, self.retention_seconds]  # the sid: as long as the conversation
            return bool(self.scripts["append_once"](self.redis, [key, self.keys.seen(message_sid)], args))
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(key, raw)
        pipe.expire(key, self.retention_seconds)
        pipe.execute()
        return True

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
