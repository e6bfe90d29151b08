"""Backups: every key under the store's prefix, with its expiry, written to a file and restored into an empty store.

A backup is read in batches, each in one Lua script (dump.lua), so each batch is one instant. The batches are made
so that what must agree is read together: the handoff's keys (both queues, every chat record and chat id, the job
list) in one batch, and everything kept about one sender in one batch. Different batches are read moments apart
(README, Deploy: what a backup holds). The file is JSON lines: a header, one line per key, and an end line.
"""

import base64
import gzip
import json
import os
import re
from collections import defaultdict

import redis

from bot.store import schema
from bot.store.keys import SENDER_KINDS, Keys
from bot.store.scripts import Script

FORMAT = "interleukin-assistant-backup"
# Keys read by one script: enough to make few round trips, few enough that Redis never waits long for one.
# A sender's keys are never split, nor the handoff's, so a batch may hold more.
BATCH = 200
# Read together whatever their number: the queues and the chat records and ids they point to must agree.
HANDOFF_KINDS = ("queue", "chat", "chatref", "chatid", "jobs")


class BackupError(Exception):
    """A backup cannot be taken or restored; the message says why and what to do."""


def take(client, prefix, path):
    """Write every key under `prefix` to `path` (gzip when it ends in .gz); returns how many keys it holds.

    `client` answers in bytes (connect(..., decode=False)). The file is readable by its owner only, and appears
    under its name only once complete and on disk.
    """
    dump, count, partial = Script(client, "dump"), 0, f"{path}.partial"
    version = client.get(Keys(prefix).schema)
    header = {"format": FORMAT, "version": 1, "prefix": prefix, "schema": int(version) if version is not None else None,
              "redis_version": client.info("server")["redis_version"]}
    # Only its owner may read it: a backup holds patients' conversations.
    raw = os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")
    try:
        with raw:
            out = gzip.GzipFile(fileobj=raw, mode="wb") if path.endswith(".gz") else raw
            out.write(_line(header))
            for batch in _batches(_listed(client, prefix), prefix):
                (seconds, micros), *read = dump(client, batch, [])
                now_ms = int(seconds) * 1000 + int(micros) // 1000
                for key, ttl, payload in zip(batch, read[::2], read[1::2]):
                    if ttl == -2:
                        continue  # deleted or expired since it was listed
                    out.write(_line({"key": _text(key)[len(prefix):], "expires_at": now_ms + ttl if ttl >= 0 else None,
                                     "dump": base64.b64encode(payload).decode("ascii")}))
                    count += 1
            out.write(_line({"end": True, "keys": count}))
            if out is not raw:
                out.close()  # the gzip trailer; the file stays open
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, path)
    except BaseException:
        os.unlink(partial)  # half a backup is none: nothing is left to mistake for one
        raise
    return count


def restore(client, prefix, path, force=False):
    """Restore the backup at `path` under `prefix`, each key with the expiry it had; returns (restored, expired).

    Refuses a store that holds any key under `prefix`, unless `force`, which empties it first. The file is
    checked whole before anything is written, so a truncated or foreign file changes nothing.
    """
    header = _checked(path)
    schema.refuse_newer(header.get("schema"), f"the backup {path}")
    _refuse_older_server(client, header.get("redis_version", "0"))
    if next(_listed(client, prefix), None) is not None:
        if not force:
            raise BackupError(f"the store under KEY_PREFIX {prefix!r} is not empty: restore into an empty one "
                              "(another KEY_PREFIX, or another Redis), or add --force to replace what it holds")
        for batch in _batches(_listed(client, prefix), prefix):
            client.unlink(*batch)
    seconds, micros = client.time()
    now_ms, restored, expired = seconds * 1000 + micros // 1000, 0, 0
    pipe = client.pipeline(transaction=False)
    try:
        for item in _entries(path):
            key, payload = (prefix + item["key"]).encode("utf-8", "surrogateescape"), base64.b64decode(item["dump"])
            if item["expires_at"] is None:
                pipe.restore(key, 0, payload)
            elif item["expires_at"] > now_ms:
                pipe.restore(key, item["expires_at"], payload, absttl=True)
            else:
                expired += 1  # its retention ended after the backup: it stays gone
                continue
            restored += 1
            if len(pipe) >= BATCH:
                pipe.execute()
        pipe.execute()
    except redis.ResponseError as exc:
        raise BackupError(f"Redis refused a key of the backup ({exc}); {restored} of its keys were restored before: "
                          "restore again with --force once the cause is fixed") from None
    return restored, expired


def _listed(client, prefix):
    """Every key under `prefix` (SCAN may name a key twice; each is yielded once)."""
    seen = set()
    for key in client.scan_iter(match=re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + "*", count=1000):
        if key not in seen:
            seen.add(key)
            yield key


def _batches(keys, prefix):
    """Lists of keys to read at one instant: the handoff's first, then about BATCH at a time, no group split."""
    groups = defaultdict(list)
    for key in keys:
        kind, _, whose = _text(key)[len(prefix):].partition(":")
        group = "handoff" if kind in HANDOFF_KINDS else ("sender", whose) if kind in SENDER_KINDS else key
        groups[group].append(key)
    batch = groups.pop("handoff", [])
    for members in groups.values():
        if batch and len(batch) + len(members) > BATCH:
            yield batch
            batch = []
        batch += members
    if batch:
        yield batch


def _refuse_older_server(client, version):
    """A DUMP payload restores into the Redis version that made it or a newer one, never an older one."""
    here = client.info("server")["redis_version"]
    if _release(version) > _release(here):
        raise BackupError(f"the backup was taken from Redis {version}, and this Redis is {here}: restore it into "
                          f"Redis {'.'.join(map(str, _release(version)))} or newer")


def _release(version):
    return tuple(int(part) for part in str(version).split(".")[:2])


def _checked(path):
    """The backup's header, once every line of the file has been read and the end line counts them all."""
    count, header, end = 0, None, None
    try:
        with _reading(path) as lines:
            for number, line in enumerate(lines, 1):
                item = json.loads(line)
                if number == 1:
                    header = item
                    if item.get("format") != FORMAT or item.get("version") != 1:
                        raise BackupError(f"{path} is not a backup of this assistant (or is one of a newer release)")
                elif end is not None or not ("end" in item or {"key", "expires_at", "dump"} <= item.keys()):
                    raise BackupError(f"{path}, line {number}: not a line of a backup; nothing was restored")
                elif "end" in item:
                    end = item
                else:
                    count += 1
    except (OSError, EOFError, UnicodeDecodeError, ValueError, AttributeError) as exc:
        raise BackupError(f"cannot read {path}: {exc}; nothing was restored") from None
    if end is None or end.get("keys") != count:
        raise BackupError(f"{path} is not a complete backup (its end is missing); nothing was restored")
    return header


def _entries(path):
    """The keys of a checked backup, one dict at a time."""
    with _reading(path) as lines:
        for line in lines:
            item = json.loads(line)
            if "key" in item:
                yield item


def _reading(path):
    return gzip.open(path, "rt", encoding="utf-8") if path.endswith(".gz") else open(path, encoding="utf-8")


def _line(item):
    # ASCII: a key name that is not UTF-8 goes through JSON as escaped surrogates and comes back as the same bytes.
    return (json.dumps(item) + "\n").encode("ascii")


def _text(key):
    return key.decode("utf-8", "surrogateescape")
