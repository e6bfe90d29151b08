"""The interleukin-therapy WhatsApp assistant."""

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from bot import security
from bot.assistant import Assistant
from bot.config import Settings
from bot.knowledge import KnowledgeFile
from bot.logs import configure
from bot.spool import Spool, spool_path
from bot.store import Store, connect


def build_assistant(settings):
    """The assistant with its store and knowledge, shared by the web app and the command line."""
    redis_client = connect(settings.REDIS_URL, settings.DATA_DIR, settings.REDIS_TIMEOUT)
    store = Store(redis_client, settings.KEY_PREFIX, settings.TRANSCRIPT_LIMIT, settings.retention_seconds,
                  settings.LOCK_WAIT, settings.LOCK_TIMEOUT, settings.RATE_WINDOW)
    spool = Spool(spool_path(settings.DATA_DIR, settings.REDIS_URL, settings.KEY_PREFIX))
    return Assistant(store, KnowledgeFile(settings.KNOWLEDGE_PATH), settings, spool)


def create_app(config=None):
    """The Flask app; `config` overrides settings by name (tests pass a dict)."""
    settings = Settings.from_env(**dict(config or {}))
    settings.check_for_server()
    configure(settings.LOG_LEVEL)
    app = Flask(__name__)
    # Patients cannot send more than 1,600 characters; anything far larger is not from Twilio.
    app.config.update(SETTINGS=settings, MAX_CONTENT_LENGTH=256 * 1024)
    # Set once here, so every page of the app, the console's included, gets the same protections.
    security.protect(app, settings)
    if settings.PROXY_HOPS:
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=settings.PROXY_HOPS, x_proto=settings.PROXY_HOPS,
            x_host=settings.PROXY_HOPS, x_port=settings.PROXY_HOPS, x_prefix=settings.PROXY_HOPS,
        )
    app.extensions["assistant"] = build_assistant(settings)

    from bot import health, webhook
    app.register_blueprint(webhook.bp)
    app.register_blueprint(health.bp)
    return app
