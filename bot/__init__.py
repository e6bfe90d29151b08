"""The interleukin-therapy WhatsApp assistant."""

from datetime import timedelta

from flask import Flask, redirect, url_for
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from bot import security
from bot.assistant import Assistant
from bot.config import Settings
from bot.handoff import Handoff
from bot.jobs import Jobs, Worker
from bot.knowledge import KnowledgeFile
from bot.logs import configure
from bot.outbound import Outbound
from bot.spool import Spool, spool_path
from bot.store import Store, connect, refuse_cluster
from intents import HANDLERS


def redis_for(settings, timeout=None, decode=True):
    """The Redis client the settings name (REDIS_URL, REDIS_SENTINELS, or the embedded server in DATA_DIR)."""
    return connect(settings.REDIS_URL, settings.DATA_DIR, timeout or settings.REDIS_TIMEOUT, settings.sentinels,
                   settings.REDIS_SENTINEL_SERVICE, settings.REDIS_SENTINEL_PASSWORD, decode)


def build_assistant(settings):
    """The assistant with its store, knowledge and handoff queue, shared by the web app and the command line."""
    redis_client = redis_for(settings)
    refuse_cluster(redis_client)
    store = Store(redis_client, settings.KEY_PREFIX, settings.TRANSCRIPT_LIMIT, settings.retention_seconds,
                  settings.office_hours.zone, settings.LOCK_WAIT, settings.LOCK_TIMEOUT, settings.RATE_WINDOW)
    # Before anything reads or writes the data: it must be in the format this release knows.
    store.upgrade()
    knowledge_file = KnowledgeFile(settings.KNOWLEDGE_PATH, handled=HANDLERS, store=store,
                                   safety_path=settings.SAFETY_PATH, limits=settings.safety_limits, background=True,
                                   language=settings.LANGUAGE_DIR, max_bytes=settings.knowledge_max_bytes)
    handoff = Handoff(store, Jobs(redis_client, settings.KEY_PREFIX), knowledge_file, settings)
    spool = Spool(spool_path(settings.DATA_DIR, settings.REDIS_URL, settings.KEY_PREFIX))
    # Buttons need Twilio's REST API; without a content template every choice goes out as numbered text.
    outbound = Outbound(settings) if settings.quick_reply_sids or settings.list_picker_sids else None
    return Assistant(store, knowledge_file, settings, handoff, spool, outbound)


def create_app(config=None):
    """The Flask app; `config` overrides settings by name (tests pass a dict)."""
    settings = Settings.from_env(**dict(config or {}))
    settings.check_for_server()
    configure(settings.LOG_LEVEL)
    app = Flask(__name__)
    # Patients cannot send more than 1,600 characters; anything far larger is not from Twilio.
    app.config.update(SETTINGS=settings, MAX_CONTENT_LENGTH=256 * 1024)
    if settings.PROXY_HOPS:
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=settings.PROXY_HOPS, x_proto=settings.PROXY_HOPS,
            x_host=settings.PROXY_HOPS, x_port=settings.PROXY_HOPS, x_prefix=settings.PROXY_HOPS,
        )
    assistant = build_assistant(settings)
    app.extensions["assistant"] = assistant
    # Set once here, so every page of the app, the console's included, gets the same protections.
    # Production sets SECRET_KEY; in development one random key is kept in Redis for every process.
    security.protect(app, settings, settings.SECRET_KEY or assistant.store.secret_key())
    app.config.update(
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        # CSRF is checked by the console's own forms only; Twilio's webhooks are signed instead.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,
    )
    CSRFProtect(app)

    from bot import console, content, health, ops, triage, webhook  # noqa: F401 (triage adds its pages to ops')
    app.register_blueprint(webhook.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(console.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(content.bp)

    # Whoever opens the app's address is a coordinator looking for the console.
    app.add_url_rule("/", "home", lambda: redirect(url_for("console.queue")))

    handoff = assistant.handoff
    worker = Worker(handoff.jobs, Outbound(settings), handoff)
    app.extensions["worker"] = worker
    if settings.BACKGROUND_WORKER:
        worker.start()
    return app
