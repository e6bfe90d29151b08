"""The store's schema version: one key, written when absent, and older data migrated once at start (README, Deploy)."""

import itertools
import json
import logging
import re
import time
import uuid

from bot.config import ConfigError

log = logging.getLogger(__name__)

# Transcripts read at a time by a migration.
BATCH = 200


def index_conversations(redis, keys):
    """Version 2: every conversation in the history (Keys.history), by the time of its transcript's last entry, with
    the patient's contact: the profile name of a chat still open, and how many times they waited for a coordinator."""
    head = keys.of("transcript", "")
    found = redis.scan_iter(match=re.sub(r"([*?\[\]\\])", r"\\\1", head) + "*", count=1000)
    while batch := list(itertools.islice(found, BATCH)):
        pipe = redis.pipeline(transaction=False)
        for key in batch:
            sender = key[len(head):]
            pipe.lrange(key, 0, -1).pttl(key).hget(keys.of("chat", sender), "profile")
        read = pipe.execute()
        pipe = redis.pipeline(transaction=False)
        for n, key in enumerate(batch):
            raw, ttl, profile = read[3 * n:3 * n + 3]
            if not raw:
                continue  # expired since it was listed
            entries, sender = [json.loads(item) for item in raw], key[len(head):]
            pipe.zadd(keys.history, {sender: max(entry["at"] for entry in entries)})
            handoffs = sum(entry.get("event") == "waiting" for entry in entries)
            if profile or handoffs:
                # The contact lives as long as the transcript, as the turns that write them both keep it.
                contact = keys.of("contact", sender)
                pipe.hset(contact, mapping={"handoffs": handoffs, **({"profile": profile} if profile else {})})
                if ttl > 0:
                    pipe.pexpire(contact, ttl)
        pipe.execute()


# {version: migrate(redis, keys)}: what turns the data of version - 1 into `version`, the next version without a gap.
# Version 1 is the format of every store written before the version was kept. A migration runs while the workers
# start (gunicorn kills a worker that takes longer than its --timeout), so it is quick; and it is safe to run again
# over a part of its own work: a process that dies half way leaves the rest to the next start.
MIGRATIONS = {2: index_conversations}

# The longest one process may migrate before another takes over; the others wait that long at most.
LOCK_SECONDS = 60


def latest():
    """The schema version this release writes and reads."""
    return max(MIGRATIONS, default=1)


def refuse_newer(version, where):
    """Refuse data of a newer release than this one: it may mean something else to this code."""
    if version is not None and version > latest():
        raise ConfigError(f"{where} holds data of a newer release (schema version {version}; this release reads up to "
                          f"{latest()}): run that release, or restore a backup made by this one")


class Schema:
    """The schema version of the data under the key prefix, and the upgrade that every process runs at start."""

    def schema_version(self):
        """The version of the data in the store; None before any process of this release started on it."""
        raw = self.redis.get(self.keys.schema)
        return int(raw) if raw is not None else None

    def upgrade(self, lock_seconds=LOCK_SECONDS):
        """Bring the data to this release's version, once: the first process to start migrates, the others wait.

        A store without a version is of version 1. Raises ConfigError for a newer store, or when another process
        has held the migration for `lock_seconds` without finishing. Returns the version.
        """
        self.redis.set(self.keys.schema, 1, nx=True)
        deadline = time.monotonic() + lock_seconds
        while True:
            version = self.schema_version()
            refuse_newer(version, f"KEY_PREFIX {self.prefix!r}")
            if version == latest():
                return version
            token = uuid.uuid4().hex
            if self.redis.set(self.keys.schema_lock, token, nx=True, ex=lock_seconds):
                try:
                    self._migrate(token, lock_seconds)
                finally:
                    self.scripts["schema_step"](self.redis, [self.keys.schema_lock, self.keys.schema], [token, ""])
                continue
            if time.monotonic() > deadline:
                raise ConfigError(f"another process has been migrating the data under KEY_PREFIX {self.prefix!r} for "
                                  f"{lock_seconds} seconds; see its log, then start again")
            time.sleep(0.05)

    def _migrate(self, token, lock_seconds):
        """Run the migrations from the stored version on, each recorded as done while the lock is still ours."""
        for version in range(self.schema_version() + 1, latest() + 1):
            log.warning("migrating the store", extra={"to_version": version})
            MIGRATIONS[version](self.redis, self.keys)
            if not self.scripts["schema_step"](self.redis, [self.keys.schema_lock, self.keys.schema], [token, version]):
                raise ConfigError(f"migrating to schema version {version} took more than {lock_seconds} seconds; "
                                  "another process took over")
