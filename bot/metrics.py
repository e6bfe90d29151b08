"""Prometheus metrics (served at GET /metrics by bot/health.py), added up over every worker process.

gunicorn runs several worker processes and a scrape reaches one of them, so counts kept in one
process's memory would jump around. prometheus-client's multiprocess mode has each process write
its counts to files in PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py makes a fresh one per start), and
/metrics adds them up. Without that variable (tests, the command line) the process's own counts are shown.
"""

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

RECEIVED = Counter("assistant_messages_received_total", "Messages received from Twilio with a valid signature.")
REPLIES = Counter("assistant_replies_total", "Reply messages sent back to patients in TwiML.")
INTENTS = Counter("assistant_intents_total", "Messages answered, by intent; none when nothing matched.", ["intent"])
FALLBACKS = Counter("assistant_fallbacks_total", "Messages the assistant did not understand.")
HANDOFFS = Counter("assistant_handoffs_total", "Conversations handed to a care coordinator.")
QUEUE_LENGTH = Gauge("assistant_handoff_queue_length", "Conversations waiting for a care coordinator.",
                     multiprocess_mode="mostrecent")
LATENCY = Histogram("assistant_webhook_seconds", "Time to answer one webhook request from Twilio.",
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15))
DUPLICATES = Counter("assistant_duplicates_total", "Twilio retries of a message already handled, answered empty.")
RATE_LIMITED = Counter("assistant_rate_limited_total", "Messages kept but not answered: their sender went over RATE_LIMIT.")
UNANSWERED = Counter("assistant_unanswered_total",
                     "Messages answered with an apology, by reason: redis (unavailable), busy (sender lock wait), error.",
                     ["reason"])
REJECTED = Counter("assistant_rejected_requests_total",
                   "Webhook requests refused for a missing or wrong signature, or fields Twilio never sends.")


def exposition():
    """The metrics in Prometheus's text format, and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST
