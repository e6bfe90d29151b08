"""What operations staff see: the questions the assistant could not answer, daily activity, how handoffs end.

None of it carries a patient's number: questions keep it masked, and patients are counted with a HyperLogLog.
A patient's turn writes its question and its counts as it ends (end_turn.lua).
"""

import json
import re
import secrets
import time
from datetime import datetime, timedelta

from bot.logs import mask

# Questions the assistant could not answer, kept for operations: the newest ones, at most this many.
UNANSWERED_LIMIT = 5000
# Daily counts hold no personal data; they are kept for the activity view's longest period.
ACTIVITY_DAYS = 90
# How long a day's counts live: the activity view's longest period, with two days to spare at its edge.
ACTIVITY_SECONDS = (ACTIVITY_DAYS + 2) * 86400
# A phone number written in a message (7 digits or more, spaces and dashes allowed) is hidden before keeping it.
_NUMBER_IN_TEXT = re.compile(r"\+?\d(?:[\s-]?\d){6,}")


class Operations:
    """Unanswered questions (the newest UNANSWERED_LIMIT), daily counts, and the outcomes of handed-over chats."""

    def unanswered(self):
        """The kept unanswered questions {at, text, number}, newest first."""
        ids = self.redis.zrevrange(self.keys.questions, 0, self.unanswered_limit - 1)
        raw = self.redis.mget([self.keys.question(question_id) for question_id in ids]) if ids else []
        gone = [question_id for question_id, item in zip(ids, raw) if item is None]
        if gone:
            self.redis.zrem(self.keys.questions, *gone)  # expired: drop them from the index too
        return [{**json.loads(item), "id": question_id} for question_id, item in zip(ids, raw) if item is not None]

    def drop_unanswered(self, ids):
        """Take questions off the list (answered by an edit, or dismissed by operations)."""
        if ids:
            pipe = self.redis.pipeline(transaction=True)
            pipe.delete(*map(self.keys.question, ids))
            pipe.zrem(self.keys.questions, *ids)
            pipe.execute()

    def _question(self, sender, text, now):
        """A new question's id, and its entry as kept: the number masked, numbers in the text hidden."""
        entry = {"at": now, "text": _NUMBER_IN_TEXT.sub("[number]", text), "number": mask(sender)}
        return secrets.token_hex(8), json.dumps(entry, ensure_ascii=False)

    def _trim_unanswered(self, kept):
        """Past the limit the oldest questions go, so a flood of messages cannot fill Redis."""
        if kept <= self.unanswered_limit:
            return
        oldest = self.redis.zrange(self.keys.questions, 0, -self.unanswered_limit - 1)
        if oldest:
            self.redis.delete(*map(self.keys.question, oldest))
            self.redis.zrem(self.keys.questions, *oldest)

    def count_outcome(self, outcome):
        """Count how handed-over chats end, for the clinic's reports."""
        self.redis.hincrby(self.keys.outcomes, outcome, 1)

    def activity(self, days, now=None):
        """Per day, oldest first: {day, messages, patients, unanswered, handoffs, intents: {intent: count}}."""
        now = time.time() if now is None else now
        today = datetime.fromtimestamp(now, self.zone).date()
        dates = [(today - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]
        pipe = self.redis.pipeline(transaction=False)
        for day in dates:
            pipe.hgetall(self.keys.activity(day))
            pipe.pfcount(self.keys.patients(day))
        results = pipe.execute()
        out = []
        for day, counts, patients in zip(dates, results[::2], results[1::2]):
            intents = {name[7:]: int(n) for name, n in counts.items() if name.startswith("intent:")}
            out.append({"day": day, "patients": patients, "intents": intents,
                        **{name: int(counts.get(name, 0)) for name in ("messages", "unanswered", "handoffs")}})
        return out

    def _day(self, now):
        """The day (in the clinic's time zone) whose counts a moment belongs to."""
        return datetime.fromtimestamp(now, self.zone).date().isoformat()
