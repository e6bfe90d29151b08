"""Logging without patient data: one JSON object per line, numbers masked, message text never logged."""

import json
import logging
import re
import traceback
from datetime import datetime, timezone

_DIGITS = re.compile(r"\d")
# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged as a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def mask(sender):
    """Keep the channel and the last three digits of a number: 'whatsapp:+*********000'."""
    channel, _, number = sender.rpartition(":")
    head = number[:-3] if len(number) > 3 else ""
    masked = _DIGITS.sub("*", head) + number[len(head):]
    return f"{channel}:{masked}" if channel else masked


class JsonLines(logging.Formatter):
    """One JSON object per line: time, level, logger, event, the `extra=` fields, and where an error came from."""

    def format(self, record):
        entry = {
            "at": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        if record.exc_info and record.exc_info[0]:
            kind, _, tb = record.exc_info
            # The frames and the exception's type, not its text: an exception's text may quote a message.
            entry["error"] = kind.__name__
            entry["trace"] = "".join(traceback.format_tb(tb))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(level, path=None):
    """JSON lines on standard error for every process (gunicorn workers, the command line), or into the file `path`."""
    handler = logging.FileHandler(path, encoding="utf-8") if path else logging.StreamHandler()
    handler.setFormatter(JsonLines())
    logging.basicConfig(level=level, handlers=[handler], force=bool(path))
    # Twilio's client logs every request's headers at INFO; our own log lines say what matters, masked.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
