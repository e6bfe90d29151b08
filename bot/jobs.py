"""Messages the app sends itself (alerts, coordinator replies, notices) go through a job list in Redis.

The webhook and the console only add jobs, so they never wait for Twilio. A background worker sends
them as they come due, retries with growing delays when Twilio fails, and keeps the ones it gives up
on where the console shows them. Jobs are leased, not popped: a worker that dies mid-send leaves
the job to be sent again after the lease.
"""

import json
import logging
import threading
import time
import uuid

import redis

from bot.logs import mask
from bot.outbound import OPTED_OUT_CODES, WINDOW_CLOSED, SendError

log = logging.getLogger(__name__)

# Twilio refuses these for good: retrying would only repeat the refusal.
FINAL_ERRORS = {21211, 21408, 21612, 21614, 63003, 63024, WINDOW_CLOSED, *OPTED_OUT_CODES}

# Hand out due jobs to one worker at a time by pushing their due time past a lease.
_LEASE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], ARGV[2], id)
  table.insert(out, id)
  table.insert(out, redis.call('HGET', KEYS[2], id) or '')
end
return out
"""


class Jobs:
    """The job list: due times in a sorted set, job bodies in a hash, failures in a capped list."""

    def __init__(self, redis_client, prefix, attempts=8, backoff=10, lease=120):
        self.redis = redis_client
        self.due_key, self.data_key = f"{prefix}jobs:due", f"{prefix}jobs:data"
        self.failed_key, self.wake_key = f"{prefix}jobs:failed", f"{prefix}jobs:wake"
        self.prefix = prefix
        self.attempts, self.backoff, self.lease = attempts, backoff, lease
        self._waiting = None

    def add(self, job, at=None):
        """Queue a job to run at `at` (now by default); returns its id."""
        return self.add_all([job], at)[0]

    def add_all(self, jobs, at=None):
        """Queue jobs to run at `at` (now by default), in one round trip; returns their ids."""
        ids = [uuid.uuid4().hex for _ in jobs]
        due = time.time() if at is None else at
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.data_key, mapping={job_id: json.dumps({"attempts": 0, **job}, ensure_ascii=False)
                                          for job_id, job in zip(ids, jobs)})
        pipe.zadd(self.due_key, {job_id: due for job_id in ids})
        # Wake sleeping workers so the jobs go out at once rather than at their next round.
        pipe.rpush(self.wake_key, *[1] * len(ids))
        pipe.ltrim(self.wake_key, -10, -1)
        pipe.execute()
        return ids

    def due(self, now=None, limit=20):
        """Lease and return the jobs due by `now` as (id, job) pairs."""
        now = time.time() if now is None else now
        raw = self.redis.eval(_LEASE, 2, self.due_key, self.data_key, now, now + self.lease, limit)
        pairs = []
        for job_id, body in zip(raw[::2], raw[1::2]):
            if body:
                pairs.append((job_id, json.loads(body)))
            else:
                self.redis.zrem(self.due_key, job_id)
        return pairs

    def done(self, job_id):
        """Forget a job that has run."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrem(self.due_key, job_id)
        pipe.hdel(self.data_key, job_id)
        pipe.execute()

    def forget(self, sender):
        """Drop every job to or about `sender` ("delete my data"): nothing more goes to them, nothing of it is kept."""
        ids = [job_id for job_id, raw in self.redis.hscan_iter(self.data_key)
               if sender in (json.loads(raw).get("to"), json.loads(raw).get("chat"))]
        if ids:
            pipe = self.redis.pipeline(transaction=True)
            pipe.zrem(self.due_key, *ids)
            pipe.hdel(self.data_key, *ids)
            pipe.execute()
        return len(ids)

    def retry(self, job_id, job, error, now=None):
        """Run the job again after a growing delay; False (and kept as a failure) once attempts run out."""
        now = time.time() if now is None else now
        job = {**job, "attempts": job.get("attempts", 0) + 1, "error": str(error)}
        if job["attempts"] >= self.attempts:
            self.give_up(job_id, job, error, now)
            return False
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.data_key, job_id, json.dumps(job, ensure_ascii=False))
        pipe.zadd(self.due_key, {job_id: now + self.backoff * 2 ** (job["attempts"] - 1)})
        pipe.execute()
        return True

    def give_up(self, job_id, job, error, now=None):
        """Drop the job and keep a record of the failure (masked number, error) for the console."""
        record = {"at": time.time() if now is None else now, "to": mask(job.get("to", "")),
                  "kind": job.get("kind", "message"), "error": str(error), "attempts": job.get("attempts", 0)}
        pipe = self.redis.pipeline(transaction=True)
        pipe.lpush(self.failed_key, json.dumps(record))
        pipe.ltrim(self.failed_key, 0, 99)
        pipe.execute()
        self.done(job_id)
        log.error("gave up sending a %s to %s: %s", record["kind"], record["to"], error)

    def failures(self, limit=20):
        """The latest jobs given up on, newest first."""
        return [json.loads(item) for item in self.redis.lrange(self.failed_key, 0, limit - 1)]

    def pending(self):
        """How many jobs wait to run."""
        return self.redis.zcard(self.due_key)

    def wait(self, timeout):
        """Sleep until a job is added or `timeout` seconds pass."""
        # The app's connections give up after a fraction of a second (REDIS_TIMEOUT), shorter than this wait:
        # the blocking call gets a connection of its own that waits long enough.
        if self._waiting is None:
            pool = self.redis.connection_pool
            kwargs = {**pool.connection_kwargs, "socket_timeout": timeout + 2}
            self._waiting = redis.Redis(connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs))
        self._waiting.blpop([self.wake_key], timeout=timeout)

    def once(self, name, seconds, now=None):
        """True for the first caller in each period of `seconds`, across every process."""
        now = time.time() if now is None else now
        key = f"{self.prefix}once:{name}:{int(now // seconds)}"
        return bool(self.redis.set(key, 1, nx=True, ex=int(seconds) * 2))


class Worker:
    """Sends due jobs through Twilio and sweeps the handoff queue, in a background thread."""

    def __init__(self, jobs, outbound, handoff, interval=1.0, sweep_every=15):
        self.jobs, self.outbound, self.handoff = jobs, outbound, handoff
        self.interval, self.sweep_every = interval, sweep_every
        self._stop = threading.Event()
        self._thread = None

    def run_once(self, now=None):
        """Send every job due by `now`, then sweep the queue if no other process has in this period."""
        now = time.time() if now is None else now
        for job_id, job in self.jobs.due(now):
            self._send(job_id, job, now)
        if self.jobs.once("sweep", self.sweep_every, now):
            self.handoff.sweep(now)

    def _send(self, job_id, job, now):
        if job.get("kind") == "reminder":
            # A consultation's reminder becomes a notice (or a held text) only once it is due and still stands.
            self.handoff.remind(job, now)
            self.jobs.done(job_id)
            return
        try:
            sent = self.outbound.send(job["to"], body=job.get("body"), content_sid=job.get("content_sid"),
                                      variables=job.get("variables"))
        except SendError as exc:
            if exc.code in OPTED_OUT_CODES and job.get("chat"):
                # The patient opted out or blocked the business: nothing more may go to them.
                self.handoff.store.opt_out(job["chat"])
            if exc.code == WINDOW_CLOSED and job.get("hold"):
                # WhatsApp's 24-hour window closed: keep the text for the patient's next message.
                self.jobs.done(job_id)
                self.handoff.hold(job["chat"], job["ref"], job["body"], job.get("by", ""))
            elif exc.code in FINAL_ERRORS or not self.jobs.retry(job_id, job, exc, now):
                if exc.code in FINAL_ERRORS:
                    self.jobs.give_up(job_id, job, exc, now)
                self.handoff.delivery(job, f"failed {exc.code or ''}".strip())
            else:
                self.handoff.delivery(job, "retrying")
            return
        self.jobs.done(job_id)
        self.handoff.delivery(job, sent.status, sent.sid)

    def start(self):
        """Run in a daemon thread until stop()."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="background-worker", daemon=True)
        self._thread.start()

    def stop(self):
        """Finish the current round and end the thread."""
        self._stop.set()
        if self._thread:
            self._thread.join(10)

    def _loop(self):
        failures = 0
        while not self._stop.is_set():
            try:
                self.run_once()
                if failures:
                    log.info("background worker working again", extra={"failed_rounds": failures})
                failures = 0
                self.jobs.wait(self.interval)
            except Exception:
                # Redis or Twilio trouble must not kill the worker; the jobs wait in Redis meanwhile.
                # The first failure of a run is logged in full; then it waits longer each time, up to a minute.
                failures += 1
                if failures == 1:
                    log.exception("background worker round failed; retrying with growing pauses")
                self._stop.wait(min(60.0, self.interval * 2 ** failures))
