"""All state in Redis, one module per domain (README, Layout): `Store` joins them under one key prefix."""

import threading
from datetime import timezone

from bot.store import scripts
from bot.store.accounts import Accounts
from bot.store.connection import Connection, connect, refuse_cluster, stop_embedded
from bot.store.conversation import Conversation, Conversations, Escalation
from bot.store.deliveries import Deliveries
from bot.store.history import History
from bot.store.kept_knowledge import KeptKnowledge
from bot.store.keys import SENDER_KINDS, Keys
from bot.store.operations import UNANSWERED_LIMIT, Operations
from bot.store.queue import Queue
from bot.store.schema import Schema
from bot.store.transcripts import Transcripts
from bot.store.translations import Translations
from bot.store.turn import WAITER_SILENCE, Lock, LockTimeout, Turns
from bot.store.versions import Versions

__all__ = ["Store", "connect", "refuse_cluster", "stop_embedded", "Conversation", "Escalation", "Lock", "LockTimeout",
           "SENDER_KINDS", "UNANSWERED_LIMIT", "WAITER_SILENCE"]


class Store(Turns, Conversations, Transcripts, History, Queue, Deliveries, Accounts, Operations, KeptKnowledge, Versions,
            Translations, Schema, Connection):
    """Everything kept in Redis, under one key prefix; what is kept about a sender expires after the retention time."""

    def __init__(self, redis_client, prefix="ilbot:", transcript_limit=5000, retention_seconds=90 * 86400, zone=timezone.utc,
                 lock_wait=10.0, lock_timeout=5.0, rate_window=60, unanswered_limit=UNANSWERED_LIMIT):
        self.redis = redis_client
        self.prefix = prefix
        self.keys = Keys(prefix)
        self.scripts = scripts.register(redis_client)
        self.transcript_limit = transcript_limit
        # Also how long a handled MessageSid is remembered: a captured request replayed any time while the
        # conversation is kept is a retry, never a new message (Twilio's own retries end within hours).
        self.retention_seconds = retention_seconds
        self.unanswered_limit = unanswered_limit
        # Days of the activity counts start at midnight here (the clinic's time zone).
        self.zone = zone
        self.lock_wait = lock_wait
        self.lock_timeout = lock_timeout
        self.rate_window = rate_window
        self._restarting = threading.Lock()
        # Redis's clock minus ours (seconds), learnt from each lock answer; and how long we wait for one.
        self._clock = None
        self._patience = redis_client.connection_pool.connection_kwargs.get("socket_timeout") or 1.0

    def key(self, kind, whose):
        """The key of one kind for a sender (or a message, a chat, a day): Keys.of."""
        return self.keys.of(kind, whose)
