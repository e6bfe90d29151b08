"""The handoff queue. A chat record (hash chat:<sender>) exists while the patient waits for a coordinator
(status "waiting", in the queue) or talks with one (status "claimed"); a patient's own turn puts it there.
Coordinators claim chats, give them to each other (with a notice to the colleague), and mark what they have read."""

import json
import secrets
import time

from bot.store.operations import ACTIVITY_SECONDS

# Urgent chats sort before every other waiting chat; within each group the longest wait comes first.
URGENT_AHEAD = 10**11


def chat_record(sender, raw):
    """A chat record from its hash (a dict, or Redis's flat list), with numbers and flags as such; None when there is none."""
    if isinstance(raw, list):
        raw = dict(zip(raw[::2], raw[1::2]))
    if not raw:
        return None
    return {**raw, "sender": sender, "urgent": raw.get("urgent") == "1", "since": float(raw.get("since", 0)),
            "form": json.loads(raw["form"]) if raw.get("form") else None,
            "alerted_at": float(raw.get("alerted_at") or 0), "claimed_at": float(raw.get("claimed_at") or 0),
            "active_at": float(raw.get("active_at") or 0), "booked_at": float(raw.get("booked_at") or 0)}


class Queue:
    """Chats waiting for a coordinator or taken by one: their records, ids, notes and held messages."""

    def chat(self, sender):
        """The sender's chat record while waiting for or with a coordinator, else None."""
        return chat_record(sender, self.redis.hgetall(self.keys.of("chat", sender)))

    def chat_id(self, sender):
        """A random, stable id for the sender's chat, so console addresses and logs never carry the number."""
        new_id = secrets.token_urlsafe(12)
        keys = [self.keys.of("chatref", sender), self.keys.chat_id(new_id)]
        chat_id = self.scripts["get_chat_id"](self.redis, keys, [sender, new_id, self.retention_seconds])
        self._keep_way_back(sender, chat_id, new_id)
        return chat_id

    def _keep_way_back(self, sender, chat_id, written):
        """A patient seen before keeps their chat's id; its way back to the number lives as long as the rest."""
        if chat_id != written:
            self.redis.set(self.keys.chat_id(chat_id), sender, ex=self.retention_seconds)

    def sender_of(self, chat_id):
        """The sender behind a chat id, or None."""
        return self.redis.get(self.keys.chat_id(chat_id))

    def waiting(self):
        """The chats in the queue: urgent first, then the longest wait."""
        return [chat for chat in map(self.chat, self.redis.zrange(self.keys.waiting, 0, -1)) if chat]

    def queue_length(self):
        """How many chats wait for a coordinator."""
        return self.redis.zcard(self.keys.waiting)

    def claimed(self):
        """The chats coordinators have taken, least recently active first."""
        return [chat for chat in map(self.chat, self.redis.zrange(self.keys.claimed, 0, -1)) if chat]

    def claim(self, sender, coordinator, now=None):
        """Give the waiting chat to `coordinator`; True for exactly one of any number of simultaneous claims."""
        now = time.time() if now is None else now
        keys = [self.keys.waiting, self.keys.of("chat", sender), self.keys.claimed]
        return bool(self.scripts["claim"](self.redis, keys, [sender, coordinator, now]))

    def assign(self, sender, by, colleague, transfer=False, now=None):
        """Give the chat to a colleague with a console account: a waiting chat (anyone may), or with `transfer` a chat
        `by` holds. The colleague finds a notice on their queue page (notices). Returns (outcome, name):
        "assigned" or "transferred" and the colleague's name as their account spells it; or why not: "no_account",
        "same" (the colleague is `by`), "not_waiting" or "not_yours", and the chat's holder ("" when none)."""
        now = time.time() if now is None else now
        mode = "transfer" if transfer else "assign"
        notice = json.dumps({"by": by, "at": now, "kind": mode})
        keys = [self.keys.waiting, self.keys.of("chat", sender), self.keys.claimed, self.keys.coordinators,
                self.keys.notices(colleague)]
        args = [sender, by, colleague.lower(), now, mode, self.chat_id(sender), notice, self.retention_seconds]
        outcome, name = self.scripts["assign"](self.redis, keys, args)
        return outcome, name

    def notices(self, coordinator):
        """{chat id: {by, at, kind}}: the chats colleagues gave `coordinator` that they have not opened since."""
        return {chat_id: json.loads(raw) for chat_id, raw in self.redis.hgetall(self.keys.notices(coordinator)).items()}

    def drop_notices(self, coordinator, *chat_ids):
        """Forget the notices about these chats: the coordinator opened them, or they are no longer theirs."""
        if chat_ids:
            self.redis.hdel(self.keys.notices(coordinator), *chat_ids)

    def mark_read(self, chat_id, coordinator, now=None):
        """Note that `coordinator` has read the chat up to now (its page open), for the queue's unread counts."""
        key = self.keys.read(chat_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, coordinator.lower(), repr(time.time() if now is None else now))
        pipe.expire(key, self.retention_seconds)
        pipe.execute()

    def read_marks(self, chat_ids):
        """{chat id: {coordinator's name in lower case: when they last read it}}, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for chat_id in chat_ids:
            pipe.hgetall(self.keys.read(chat_id))
        return {chat_id: {name: float(at) for name, at in marks.items()} for chat_id, marks in zip(chat_ids, pipe.execute())}

    def touch(self, sender, now=None):
        """Note a coordinator's activity in a claimed chat, which postpones its automatic return to the assistant."""
        now = time.time() if now is None else now
        if self._update(sender, active_at=now):
            self.redis.zadd(self.keys.claimed, {sender: now}, xx=True)

    def book(self, sender, at, coordinator):
        """Note on the chat when its consultation is booked for (Unix time) and by whom; False when the chat has ended."""
        return self._update(sender, booked_at=repr(at), booked_by=coordinator)

    def alerted(self, sender, now=None):
        """Remember when the coordinators were last alerted about this chat."""
        self._update(sender, alerted_at=time.time() if now is None else now)

    def _update(self, sender, **fields):
        """Set fields of an existing chat; False when the chat has ended."""
        pairs = [item for pair in fields.items() for item in pair]
        return bool(self.scripts["update_chat"](self.redis, [self.keys.of("chat", sender)], pairs))

    def release(self, sender):
        """End the handoff: the assistant answers again. Returns the chat record, or None if another release won."""
        keys = [self.keys.of("chat", sender), self.keys.waiting, self.keys.claimed, self.keys.of("held", sender)]
        raw = self.scripts["release_chat"](self.redis, keys, [sender])
        if not raw:
            return None
        fields = dict(zip(raw[::2], raw[1::2]))
        return {**fields, "sender": sender, "urgent": fields.get("urgent") == "1"}

    def add_note(self, sender, coordinator, text):
        """A private note about the chat, seen by coordinators only."""
        key = self.keys.of("notes", sender)
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(key, json.dumps({"at": time.time(), "by": coordinator, "text": text}, ensure_ascii=False))
        pipe.ltrim(key, -self.transcript_limit, -1)
        pipe.expire(key, self.retention_seconds)
        pipe.execute()

    def notes(self, sender):
        """The private notes about the chat, oldest first."""
        return [json.loads(item) for item in self.redis.lrange(self.keys.of("notes", sender), 0, -1)]

    def hold(self, sender, entry):
        """Keep a coordinator's message until the patient writes again (WhatsApp's 24-hour window is closed)."""
        key = self.keys.of("held", sender)
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(key, json.dumps(entry, ensure_ascii=False))
        pipe.expire(key, self.retention_seconds)
        pipe.execute()

    def held(self, sender):
        """The messages held for the patient, oldest first."""
        return [json.loads(item) for item in self.redis.lrange(self.keys.of("held", sender), 0, -1)]

    def escalate(self, sender, escalation):
        """Queue the chat outside the sender's turn (their message could not be answered); fills in `escalation`."""
        chat_key, args = self._escalating(escalation)
        keys = {**self.keys.sender(sender), "chatid": chat_key, "waiting": self.keys.waiting,
                "activity": self.keys.activity(self._day(escalation.since))}
        args.update(sender=sender, retention=self.retention_seconds, activity_s=ACTIVITY_SECONDS)
        change, raw = self.scripts["escalate_alone"](self.redis, keys, args)
        self._escalated(sender, escalation, change, raw, args["chat_id"])

    def _escalating(self, escalation, chat_id=None):
        """The way back of the chat's id, and the arguments of escalate.lua for an escalation (if any)."""
        if escalation is None:
            return self.keys.unused, dict.fromkeys(("escalate", "urgent", "reason", "chat_id", "since", "profile", "ahead",
                                                    "alerting", "form"))
        chat_id = chat_id or secrets.token_urlsafe(12)
        form = json.dumps(escalation.form, ensure_ascii=False) if escalation.form else None
        args = {"escalate": True, "urgent": escalation.urgent, "reason": escalation.reason, "chat_id": chat_id,
                "since": repr(escalation.since), "profile": escalation.profile[:60], "ahead": URGENT_AHEAD,
                "alerting": escalation.alerting, "form": form}
        return self.keys.chat_id(chat_id), args

    def _escalated(self, sender, escalation, change, raw, chat_id):
        """Note on the turn's Escalation what its end made of it."""
        escalation.chat, escalation.change = chat_record(sender, raw), change
        if change == "new":
            self._keep_way_back(sender, escalation.chat["id"], chat_id)
