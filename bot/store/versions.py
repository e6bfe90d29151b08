"""Versions of the knowledge files published from the console: each text with who published it, when and why."""

import base64
import json
import secrets
import time
import zlib

# Versions kept per file; the oldest go first. A version of responses.yaml is about 60 kB once compressed.
VERSIONS_KEPT = 100
# How long one publication may hold the files (seconds): longer than checking an edit takes, short enough to
# free them soon after a process died holding them.
PUBLISHING_SECONDS = 120


class Versions:
    """Published texts of a file (by its name, e.g. responses.yaml), newest first, and the lock publishing takes."""

    def keep_version(self, name, text, by, summary, at=None):
        """Keep a published text of the file `name`; returns the new version's id."""
        version = {"id": secrets.token_hex(6), "at": time.time() if at is None else at, "by": by, "summary": summary[:300],
                   "size": len(text)}
        packed = base64.b64encode(zlib.compress(text.encode(), 6)).decode("ascii")
        index = self.keys.of("versions", name)
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self.keys.of("version", f"{name}:{version['id']}"), packed)
        pipe.lpush(index, json.dumps(version, ensure_ascii=False))
        pipe.lrange(index, VERSIONS_KEPT, -1)
        pipe.ltrim(index, 0, VERSIONS_KEPT - 1)
        dropped = pipe.execute()[2]
        if dropped:
            self.redis.delete(*(self.keys.of("version", f"{name}:{json.loads(raw)['id']}") for raw in dropped))
        return version["id"]

    def versions(self, name):
        """The versions of the file `name`: {id, at, by, summary, size}, newest first."""
        return [json.loads(raw) for raw in self.redis.lrange(self.keys.of("versions", name), 0, -1)]

    def version_text(self, name, version_id):
        """The text of one version, or None when it is not kept (any more)."""
        packed = self.redis.get(self.keys.of("version", f"{name}:{version_id}"))
        return zlib.decompress(base64.b64decode(packed)).decode() if packed else None

    def start_publishing(self):
        """Hold the knowledge files for one publication; a token to give back, or None while another is under way."""
        token = secrets.token_hex(8)
        return token if self.redis.set(self.keys.of("publishing", "knowledge"), token, nx=True, ex=PUBLISHING_SECONDS) else None

    def end_publishing(self, token):
        """Give back the hold taken by start_publishing (only if it is still ours)."""
        key = self.keys.of("publishing", "knowledge")
        if self.redis.get(key) == token:
            self.redis.delete(key)
