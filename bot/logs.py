"""Logging without patient data: numbers are masked and message text is never logged."""

import logging
import re

_DIGITS = re.compile(r"\d")


def mask(sender):
    """Keep the channel and the last three digits of a number: 'whatsapp:+91*********000'."""
    channel, _, number = sender.rpartition(":")
    head = number[:-3] if len(number) > 3 else ""
    masked = _DIGITS.sub("*", head) + number[len(head):]
    return f"{channel}:{masked}" if channel else masked


def configure(level):
    """One plain log format for every process."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Twilio's client logs every request's headers at INFO; our own log lines say what matters, masked.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
