"""Patient messages that came while Redis was down, kept on this machine's disk until Redis is back."""

import fcntl
import hashlib
import json
import logging
import os
import time

from bot.logs import mask

log = logging.getLogger(__name__)


def spool_path(data_dir, redis_url, prefix):
    """One spool per Redis and key prefix, so a message is replayed where it was meant to go."""
    where = hashlib.sha256(f"{redis_url}\n{prefix}".encode()).hexdigest()[:16]
    return os.path.join(data_dir, f"spool-{where}.jsonl")


class Spool:
    """An append-only file of inbound messages; replaying moves them into their transcripts, each once."""

    def __init__(self, path):
        self.path = path

    def keep(self, inbound):
        """Write the message to disk (flushed to the device): Redis is down and it must not be lost."""
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        line = json.dumps({
            "sender": inbound.sender, "body": inbound.body, "sid": inbound.message_sid,
            "media": inbound.num_media, "at": time.time(),
        }, ensure_ascii=False)
        # Patient text: readable by this user only.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        log.warning("message kept on disk until Redis is back", extra={"sender": mask(inbound.sender)})

    def waiting(self):
        """How many messages wait on disk."""
        try:
            with open(self.path, encoding="utf-8") as fh:
                return sum(1 for line in fh if line.strip())
        except FileNotFoundError:
            return 0

    def replay(self, store):
        """Move waiting messages into their transcripts, oldest first; returns how many were moved.

        Safe to run from several workers at once and to repeat: the file is locked, and a message
        with a MessageSid is recorded once however often it is appended.
        """
        try:
            if os.path.getsize(self.path) == 0:
                return 0
        except FileNotFoundError:
            return 0
        with open(self.path, "r+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            entries, broken = [], 0
            for line in fh:
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    # Only a write cut short by a crash leaves a broken line; it holds no whole message.
                    broken += 1
                    log.error("dropped a broken line of the message spool", extra={"path": self.path})
            moved = 0
            try:
                for entry in entries:
                    store.append(entry["sender"], "patient", entry["body"], message_sid=entry["sid"],
                                 media=entry["media"] or None, received_at=entry["at"], unanswered="redis")
                    moved += 1
            finally:
                # What Redis did not take (it failed again) stays for the next replay.
                if moved or broken:
                    fh.seek(0)
                    fh.truncate()
                    fh.writelines(json.dumps(e, ensure_ascii=False) + "\n" for e in entries[moved:])
                    fh.flush()
                    os.fsync(fh.fileno())
        if moved:
            log.info("messages kept on disk during a Redis outage are now in their transcripts", extra={"count": moved})
        return moved
