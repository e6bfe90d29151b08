"""Entry point for gunicorn: `gunicorn wsgi:app`."""

import sys

from bot import create_app
from bot.config import ConfigError
from bot.knowledge import KnowledgeError

# gunicorn stops the whole server, rather than start the worker again and again, when one exits with this.
APP_LOAD_ERROR = 4

try:
    app = create_app()
except ConfigError as exc:
    sys.stderr.write("cannot start; fix these settings:\n" + "".join(f"- {problem}\n" for problem in exc.args))
    sys.exit(APP_LOAD_ERROR)
except KnowledgeError as exc:
    sys.stderr.write(f"cannot start: {exc}\n")
    sys.exit(APP_LOAD_ERROR)
