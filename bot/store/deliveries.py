"""Delivery of the messages the app sends itself: ref (in the transcript) -> Twilio's status."""

# The order of Twilio's delivery statuses: a late "sent" callback never hides "delivered".
DELIVERY_RANK = {"held": 1, "retrying": 1, "accepted": 1, "queued": 1, "sending": 2, "sent": 3, "delivered": 4, "read": 5,
                 "undelivered": 6, "failed": 6}


def _rank(status):
    """A status's place in DELIVERY_RANK; a failure's error code after the status ("failed 30008") ranks as the failure."""
    return DELIVERY_RANK.get(status.split(" ")[0], 0)


class Deliveries:
    """What became of each message sent outside the webhook's answer, as the console shows it."""

    def delivery(self, sender, ref, status, sid=None):
        """Record the status of an outgoing message; a status never goes back (sent after delivered)."""
        key = self.keys.of("delivery", sender)
        current = self.redis.hget(key, ref)
        if current and _rank(current) > _rank(status):
            return
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, ref, status)
        if sid:
            pipe.hset(key, f"sid:{sid}", ref)
        pipe.expire(key, self.retention_seconds)
        pipe.execute()

    def delivery_ref(self, sender, sid):
        """The transcript ref of a message Twilio knows by `sid`, or None when it is not ours."""
        return self.redis.hget(self.keys.of("delivery", sender), f"sid:{sid}")

    def deliveries(self, sender):
        """Every known delivery status of the sender's outgoing messages, by ref."""
        return {ref: status for ref, status in self.redis.hgetall(self.keys.of("delivery", sender)).items()
                if not ref.startswith("sid:")}
