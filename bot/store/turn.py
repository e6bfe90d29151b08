"""The sender's turn: one message at a time per sender across all workers, its conversation read as the turn is
taken and everything the message changed written as the turn is given back (two round trips)."""

import json
import logging
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

import redis

from bot.logs import mask
from bot.store.conversation import Conversation
from bot.store.operations import ACTIVITY_SECONDS
from bot.store.queue import chat_record

log = logging.getLogger(__name__)

# Seconds without a poll after which a waiter for a sender's turn counts as gone (it polls every 50 ms at most).
WAITER_SILENCE = 1


class LockTimeout(Exception):
    """The sender's previous message was still being answered after LOCK_WAIT seconds."""


@dataclass(frozen=True)
class Lock:
    """The sender's turn: `seen` when this message was handled before; `count` messages in the rate window.

    A turn taken carries the `conversation` as it was when the turn began (None for a message seen before).
    """

    seen: bool
    count: int = 0
    conversation: Conversation | None = None


class Turns:
    """Taking and giving back a sender's turn (begin.lua, poll.lua, end_turn.lua)."""

    @contextmanager
    def lock(self, sender, message_sid=""):
        """The sender's turn: one message at a time across all workers and hosts, in the order they arrived.

        Yields a Lock; `seen` means Twilio retried a message already handled (nothing is held then).
        Raises LockTimeout after LOCK_WAIT seconds. The conversation is read as the turn is taken, and
        what the message changed in it is written as the turn is given back: two round trips in all.
        Leaving the block normally marks the sid as seen; an error writes nothing and leaves it unseen.
        """
        token, turn_keys = uuid.uuid4().hex, self.keys.turn(sender)
        keys = {**turn_keys, "seen": self.keys.seen(message_sid), **self.keys.sender(sender)}
        taking = {"token": token, "lock_ms": int(self.lock_timeout * 1000), "has_sid": bool(message_sid),
                  "silence_s": WAITER_SILENCE}
        status, count, *read = self._on_time("begin", keys, {**taking, "window_s": self.rate_window})
        started, pause = time.monotonic(), 0.002
        while status == 0:
            if time.monotonic() - started > self.lock_wait:
                self.redis.zrem(turn_keys["line"], token)
                log.warning("gave up waiting for the sender's previous message",
                            extra={"sender": mask(sender), "waited_s": self.lock_wait})
                raise LockTimeout(f"waited {self.lock_wait}s for {mask(sender)}")
            time.sleep(pause)
            pause = min(pause * 2, 0.05)  # well under WAITER_SILENCE, so a live waiter keeps its place
            status, *read = self._on_time("poll", keys, taking)
        if status == -1:
            yield Lock(seen=True, count=count)
            return
        ending = (token, sender, message_sid)
        try:
            conversation = self._conversation(sender, *read[0])
            yield Lock(seen=False, count=count, conversation=conversation)
        except BaseException:
            self._give_back(*ending)
            raise
        # A failure here reaches the caller, which keeps the message: its changes may not have been written.
        self._end_turn(*ending, conversation)

    def _conversation(self, sender, state, opted_out, chat, notice, chat_id, held):
        """The Conversation from what the start of the turn read."""
        return Conversation(json.loads(state) if state else {}, bool(opted_out), chat_record(sender, chat),
                            json.loads(notice)["version"] if notice else None, chat_id, map(json.loads, held))

    def _on_time(self, script, keys, args):
        """Run a lock script that does nothing if Redis runs it after we stopped waiting; its results.

        The deadline is on Redis's clock, estimated from the last answer: Redis's time then, minus ours.
        A "too late" answer that reaches us means the estimate was off (a clock changed): run it again.
        """
        for _ in range(2):
            deadline = "0"
            if self._clock is not None:
                deadline = str(int((time.monotonic() + self._clock + self._patience) * 1e6))
            now_us, *results = self.scripts[script](self.redis, keys, {**args, "deadline_us": deadline})
            self._clock = int(now_us) / 1e6 - time.monotonic()
            if results[0] != -2:
                return results
        raise redis.TimeoutError("Redis's clock moved while taking a sender's turn")

    def _end_turn(self, token, sender, message_sid, conversation, mark_seen=True):
        """Write what the message changed, mark its sid seen and give the turn back, in one round trip."""
        now = time.time()
        day = self._day(now)
        changes, entries = conversation.changes()
        keys = {"turn": self.keys.turn(sender)["turn"], "seen": self.keys.seen(message_sid),
                "activity": self.keys.activity(day), "patients": self.keys.patients(day), "waiting": self.keys.waiting,
                "claimed": self.keys.claimed, "questions": self.keys.questions, "question": self.keys.unused,
                "history": self.keys.history, **self.keys.sender(sender)}
        args = {"token": token, "mark_seen": mark_seen and bool(message_sid), "seen_s": self.retention_seconds,
                "retention": self.retention_seconds, "limit": self.transcript_limit, "activity_s": ACTIVITY_SECONDS,
                "sender": sender, **changes, "question": None, "question_id": None, "asked_at": None,
                "erase": conversation.erased, "erased_questions": None}
        if conversation.question is not None:
            question_id, args["question"] = self._question(sender, conversation.question, now)
            keys["question"], args["question_id"], args["asked_at"] = self.keys.question(question_id), question_id, repr(now)
        keys["chatid"], escalating = self._escalating(conversation.escalation, conversation.chat_id)
        args.update(escalating)
        erased = self._erasing(sender, conversation, args) if conversation.erased else []
        ours, kept, change, chat = self.scripts["end_turn"](self.redis, keys, args, erased, entries)
        if not ours:
            log.error("held the sender's turn past LOCK_TIMEOUT; another worker may have answered in between",
                      extra={"sender": mask(sender), "lock_timeout_s": self.lock_timeout})
        if conversation.escalation:
            self._escalated(sender, conversation.escalation, change, chat, escalating["chat_id"])
        self._trim_unanswered(kept)

    def _erasing(self, sender, conversation, args):
        """The keys an erasure deletes besides the sender's own, found with one read first; the ids go into `args`.

        The ids of the questions kept for operations are only known by reading them; the chat's id was read as the
        turn began (with it go the way back to the number and when coordinators last read the chat). The rate counter
        goes too: it expires within a minute, but its key carries the number.
        """
        questions = sorted(self.redis.smembers(self.keys.of("unanswered", sender)))
        args["erased_questions"] = json.dumps(questions)
        erased = [self.keys.turn(sender)["rate"], *map(self.keys.question, questions)]
        chat_id = conversation.chat_id
        return erased + ([self.keys.chat_id(chat_id), self.keys.read(chat_id)] if chat_id else [])

    def _give_back(self, token, sender, message_sid):
        """Give the turn back after a failure, writing nothing; a turn that cannot be given back expires by itself."""
        try:
            self._end_turn(token, sender, message_sid, Conversation({}, False, None, None), mark_seen=False)
        except redis.RedisError as exc:
            log.warning("could not release the sender's turn; it expires by itself",
                        extra={"sender": mask(sender), "error": type(exc).__name__, "expires_s": self.lock_timeout})
