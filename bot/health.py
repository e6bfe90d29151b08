"""What operations look at: /healthz (the process is up), /readyz (it can answer patients), /metrics."""

import redis
from flask import Blueprint, Response, current_app

from bot import metrics

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def alive():
    """The process is up. Nothing else is checked: a Redis outage must not get healthy processes restarted."""
    return {"status": "ok"}


@bp.get("/readyz")
def ready():
    """Ready to answer patients: Redis answers and the knowledge is loaded; 503 otherwise."""
    report = current_app.extensions["assistant"].check()
    return report, 200 if report["ready"] else 503


@bp.get("/metrics")
def expose():
    """Prometheus metrics, added up over the machine's worker processes."""
    # The queue lives in Redis, shared by every host: read it at each scrape rather than count it here.
    try:
        metrics.QUEUE_LENGTH.set(current_app.extensions["assistant"].store.queue_length())
    except redis.RedisError:
        pass  # /readyz reports the outage; the other metrics are still worth a scrape

    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type)
