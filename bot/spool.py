"""Patient messages that came while Redis was down, kept on this machine's disk until Redis is back."""

import fcntl
import hashlib
import json
import logging
import os
import time
from contextlib import contextmanager

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
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            # After a crash mid-write the file may end inside a line: start a new one, or both would be lost.
            start = "\n" if size and os.pread(fd, 1, size - 1) != b"\n" else ""
            fh.write(start + line + "\n")
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

    def holds(self, sender):
        """True when a message of the sender waits on disk."""
        try:
            with self._locked("r") as fh:
                return any(_sender_of(line) == sender for line in fh)
        except FileNotFoundError:
            return False

    def replay(self, record, sender=""):
        """Hand waiting messages to `record(kept)`, oldest first, each dropped from disk once recorded; returns how many.

        `kept` is a dict: sender, body, sid, media, and `at`, when the message was received. One worker replays at a
        time and the others go on (a frozen Redis must not hold them all up), except a worker with a new message of
        `sender` while that sender's earlier ones wait: it waits for the replay, so the patient's order holds. The
        file itself is locked only to read it and to drop what was moved, never while Redis is asked. Repeating a
        replay is harmless: `record` records a message with a MessageSid once.
        """
        try:
            if os.path.getsize(self.path) == 0:
                return 0
        except FileNotFoundError:
            return 0
        with open(self.path + ".replaying", "a") as replaying:
            try:
                fcntl.flock(replaying, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not sender or not self.holds(sender):
                    return 0
                fcntl.flock(replaying, fcntl.LOCK_EX)
            with self._locked("r") as fh:
                lines = fh.readlines()
            done = moved = 0
            try:
                for line in lines:
                    try:
                        kept = json.loads(line)
                    except ValueError:
                        # Only a write cut short by a crash leaves a broken line; it holds no whole message.
                        log.error("dropped a broken line of the message spool", extra={"path": self.path})
                    else:
                        record(kept)
                        moved += 1
                    done += 1
            finally:
                if done:
                    self._drop(done)
        if moved:
            log.info("messages kept on disk during a Redis outage are now in their transcripts", extra={"count": moved})
        return moved

    def _drop(self, count):
        """Remove the first `count` lines; lines added meanwhile are at the end and stay."""
        with self._locked("r+") as fh:
            rest = fh.readlines()[count:]
            fh.seek(0)
            fh.truncate()
            fh.writelines(rest)
            fh.flush()
            os.fsync(fh.fileno())

    @contextmanager
    def _locked(self, mode):
        with open(self.path, mode, encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield fh


def _sender_of(line):
    """The sender of a spool line, or None when the line is broken."""
    try:
        return json.loads(line)["sender"]
    except (ValueError, KeyError, TypeError):
        return None
