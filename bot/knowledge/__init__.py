"""Load and check responses.yaml into an immutable Knowledge; reload it when the file changes (README, Layout)."""

from bot.knowledge.files import KnowledgeError, Problem, did_you_mean, locate, read, read_text
from bot.knowledge.language_files import language_stamps, language_texts
from bot.knowledge.live import KnowledgeFile
from bot.knowledge.loaded import Knowledge
from bot.knowledge.loading import build, engine, load, parse
from bot.knowledge.responses import MAX_REPLY, REQUIRED_INTENTS, fill

# What the rest of the project uses; the other names live in the module of their part.
__all__ = ["KnowledgeError", "Problem", "did_you_mean", "locate", "read", "read_text", "language_stamps", "language_texts",
           "KnowledgeFile", "Knowledge", "build", "engine", "load", "parse", "MAX_REPLY", "REQUIRED_INTENTS", "fill"]
