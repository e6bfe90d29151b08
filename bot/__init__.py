"""The interleukin-therapy WhatsApp assistant."""

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from bot.assistant import Assistant
from bot.config import Settings
from bot.knowledge import KnowledgeFile
from bot.logs import configure
from bot.outbound import Outbound
from bot.store import Store, connect


def build_assistant(settings, instance_path):
    """The assistant with its store and knowledge, shared by the web app and the command line."""
    redis_client = connect(settings.REDIS_URL, instance_path)
    store = Store(redis_client, settings.KEY_PREFIX, settings.TRANSCRIPT_LIMIT, settings.retention_seconds)
    # Buttons need Twilio's REST API; without a content template every choice goes out as numbered text.
    outbound = Outbound(settings) if settings.quick_reply_sids or settings.list_picker_sids else None
    return Assistant(store, KnowledgeFile(settings.KNOWLEDGE_PATH), settings, outbound)


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
    app.extensions["assistant"] = build_assistant(settings, app.instance_path)

    from bot import webhook
    app.register_blueprint(webhook.bp)
    return app
