"""Messages kept unanswered. When answering fails the message is kept (in its transcript, or on disk while Redis is
down) with the apology the patient got, an emergency in it still reaches a coordinator, and what was kept on disk is
replayed later; over the rate limit a message is kept, and the first one gets a notice."""

import dataclasses
import logging
import os

import redis

from bot import metrics
from bot.inbound import MAX_BODY, Inbound
from bot.logs import mask
from bot.replies import Words
from bot.store import LockTimeout

log = logging.getLogger(__name__)


class Recovery:
    """Assistant's failure paths, rate limit and readiness (it brings the store, spool, handoff, knowledge, settings)."""

    def _emergency(self, inbound):
        """True for a message that describes an emergency (a body too long to be a patient's never does)."""
        body = inbound.body.strip()
        return len(body) <= MAX_BODY and bool(self.knowledge_file.current().safety.alarm(body))

    def _hold_back(self, inbound, lock):
        """Keep a message over the rate limit unanswered (a full transcript counts it); the first one gets the notice."""
        conversation = lock.conversation
        conversation.append_over_limit(inbound.body, message_sid=inbound.message_sid,
                                       media=inbound.num_media or None, unanswered="rate_limited")
        metrics.RATE_LIMITED.inc()
        if lock.count != self.settings.RATE_LIMIT + 1:
            return []
        log.warning("sender went over the rate limit", extra={
            "sender": mask(inbound.sender), "limit": self.settings.RATE_LIMIT, "window_s": self.settings.RATE_WINDOW})
        # The coordinators see from where the assistant stopped answering, and for how long.
        conversation.append("event", "", event="rate_limited", limit=self.settings.RATE_LIMIT,
                            window_s=self.settings.RATE_WINDOW)
        # In the language of the conversation, like every other reply.
        notice = Words(self.knowledge_file.current(), self.settings, conversation.state).message("rate_limited")
        conversation.append("assistant", notice)
        return [notice]

    def apology(self):
        """What to say when something failed while answering."""
        return Words(self.knowledge_file.current(), self.settings, {}).message("unavailable")

    def keep(self, inbound, error):
        """After `error` stopped an answer: log it, and keep the message (on disk while Redis is down).

        The message goes into the transcript marked unanswered, with the apology the patient gets,
        so a coordinator sees it; returns the reason (redis, busy or error), also counted in metrics.
        """
        who = mask(inbound.sender)
        outage = isinstance(error, (redis.ConnectionError, redis.TimeoutError))
        if isinstance(error, LockTimeout):
            reason = "busy"  # the store has logged the wait
        elif outage:
            reason = "redis"
            log.error("Redis is unavailable; answering with an apology",
                      extra={"sender": who, "error": type(error).__name__})
        else:
            reason = "error"
            log.error("could not answer a message", exc_info=error, extra={"sender": who})
        metrics.UNANSWERED.labels(reason).inc()
        if not inbound.sender:
            return reason
        # Trying Redis again after it just failed would only make the patient wait for a second timeout.
        if not outage:
            try:
                self.store.append(inbound.sender, "patient", inbound.body, message_sid=inbound.message_sid,
                                  media=inbound.num_media or None, unanswered=reason)
                self.store.append(inbound.sender, "assistant", self.apology())
                # The patient had the emergency numbers in the apology; a coordinator must still see it at once.
                if self._emergency(inbound):
                    self.handoff.emergency_unanswered(inbound)
                return reason
            except redis.RedisError:
                pass
        self.store.recover()
        try:
            self.spool.keep(inbound)
        except OSError as exc:
            log.critical("could not keep a message on disk either; it is lost",
                         extra={"sender": who, "error": type(exc).__name__})
        return reason

    def recover(self, kept):
        """A message kept on disk during an outage into its transcript, as received; an emergency goes urgent to the queue.

        The patient had the apology with the emergency numbers then; now a coordinator must see it at once.
        """
        inbound = Inbound(sender=kept["sender"], body=kept["body"], message_sid=kept["sid"], num_media=kept["media"])
        with self.store.lock(inbound.sender, inbound.message_sid) as lock:
            if lock.seen:
                return
            conversation = lock.conversation
            conversation.append("patient", inbound.body, message_sid=inbound.message_sid, media=inbound.num_media or None,
                                unanswered="redis", at=kept["at"])
            if self._emergency(inbound):
                self.handoff.escalate(inbound, conversation, "emergency", urgent=True)
        self.handoff.turn_ended(inbound.sender, conversation)

    def check(self):
        """What /readyz reports: Redis answers, the knowledge is loaded, and how many messages wait on disk."""
        report = {"ready": True, "redis": "ok", "knowledge": "ok"}
        try:
            self.store.ping()
            self.spool.replay(self.recover)
        except redis.RedisError as exc:
            report.update(ready=False, redis=f"unavailable ({type(exc).__name__})")
            self.store.recover()
        # Which version this process serves: every process of every host shows the same within seconds of an edit.
        report["knowledge_version"] = self.knowledge_file.version
        if self.knowledge_file.error:
            report["knowledge"] = "ok; the latest edit of the file was refused, the last good version is in use"
            # Where and why, without the server's folders.
            report["knowledge_refused"] = [str(dataclasses.replace(p, path=os.path.basename(p.path)))
                                           for p in self.knowledge_file.error.problems[:10]]
        report["kept_on_disk"] = self.spool.waiting()
        return report
