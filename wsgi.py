"""Entry point for gunicorn: `gunicorn wsgi:app`."""

import sys

from bot import create_app
from bot.config import ConfigError
from bot.knowledge import KnowledgeError

try:
    app = create_app()
except (ConfigError, KnowledgeError) as exc:
    sys.exit(f"cannot start: {exc}")
