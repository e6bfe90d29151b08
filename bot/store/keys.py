"""Every Redis key of the store, named in one place: one prefix, then what the key holds and whose it is."""

# Every kind of key kept per sender: all expire together after the retention time, and erasure removes them.
# "unanswered" lists the ids of the sender's questions kept for operations (which hold only a masked number);
# "contact" what the console's history keeps of a patient between chats: their profile name, how many handoffs.
SENDER_KINDS = ("transcript", "state", "notice", "optout", "chat", "chatref", "notes", "held", "delivery", "unanswered",
                "contact")
# What taking a sender's turn reads of their conversation (read.lua).
CONVERSATION_KINDS = ("state", "optout", "chat", "notice", "chatref", "held")


class Keys:
    """The keys under one prefix: `{prefix}{kind}:{whose}` for what belongs to someone, `{prefix}{name}` for the rest."""

    def __init__(self, prefix):
        self.prefix = prefix
        # The handoff queue: chats waiting for a coordinator, and chats coordinators have taken.
        self.waiting, self.claimed = self.of("queue", "waiting"), self.of("queue", "claimed")
        # Every question kept for operations, by the time it was asked.
        self.questions = f"{prefix}unanswered"
        # Every conversation (its sender) by the time its transcript was last written: the console's history.
        self.history = f"{prefix}history"
        self.outcomes = f"{prefix}outcomes"
        self.coordinators = f"{prefix}coordinators"
        self.secret_key = f"{prefix}secret-key"
        # The knowledge that last loaded without a problem, kept for every process.
        self.knowledge_version, self.knowledge = f"{prefix}knowledge-version", f"{prefix}knowledge"
        self.safety, self.language = f"{prefix}safety", f"{prefix}language"
        # The version of the format the data is in (schema.py), and who is migrating it.
        self.schema, self.schema_lock = f"{prefix}schema", f"{prefix}schema-lock"
        # Never written: passed where a script takes a key it will not use this time, since an ACL user limited
        # to the prefix may pass no key outside it, not even an empty name.
        self.unused = f"{prefix}unused"

    def of(self, kind, whose):
        """The key of one `kind` (a SENDER_KINDS one, or another below) for a sender, a message, a chat or a day."""
        return f"{self.prefix}{kind}:{whose}"

    def sender(self, sender):
        """{kind: key} of everything kept about the sender (SENDER_KINDS)."""
        return {kind: self.of(kind, sender) for kind in SENDER_KINDS}

    def turn(self, sender):
        """The keys of taking the sender's turn: who holds it, who waits (and their last poll), and the rate count."""
        return {"turn": self.of("lock", sender), "line": self.of("line", sender), "beat": self.of("beat", sender),
                "rate": self.of("rate", sender)}

    def seen(self, message_sid):
        """Set once the message with this sid was handled, so Twilio's retries are not answered again."""
        return self.of("seen", message_sid)

    def chat_id(self, chat_id):
        """The way back from a chat's random id to the sender's number."""
        return self.of("chatid", chat_id)

    def read(self, chat_id):
        """When each coordinator last read the chat: {account name in lower case: Unix time}."""
        return self.of("read", chat_id)

    def notices(self, name):
        """What a coordinator is told on their queue page until they open the chat: {chat id: notice}."""
        return self.of("notices", name.lower())

    def question(self, question_id):
        return self.of("question", question_id)

    def activity(self, day):
        """The day's counts: messages, intents, unanswered questions, handoffs."""
        return self.of("activity", day)

    def patients(self, day):
        """The day's distinct patients, as a HyperLogLog."""
        return self.of("patients", day)

    def failed_logins(self, name, address):
        """The failed logins counted for the account and for the address it was tried from."""
        return [self.of("login-account", name.lower()), self.of("login-address", address)]
