"""The app with its message handling cut down, for `run.py --app`: what each part of a message costs.

    python bench/run.py --app "bench.floor:reduced('bare')"      # the webhook around a fixed reply
    python bench/run.py --app "bench.floor:reduced('turn')"      # + the sender's turn: two Redis round trips
    python bench/run.py --app "bench.floor:reduced('matched')"   # + the emergency check and matching

Each is the real app (settings, signature check, form, metrics, security headers, TwiML) with
`Assistant.respond` replaced by the part named, so a run against one of them shows how close to the
bare Flask baseline the app could come if the rest of a message's work cost nothing. For measuring
only: these answer every patient with the same text.
"""

from bot import create_app

REPLY = "Thank you for your message."


def reduced(part):
    """The app whose respond does only `part`: "bare", "turn" or "matched"."""
    app = create_app()
    assistant = app.extensions["assistant"]

    def turn(inbound):
        """The sender's turn, taken and given back with nothing changed: the two round trips of every message."""
        with assistant.store.lock(inbound.sender, inbound.message_sid) as lock:
            if lock.seen:
                return []
            if part == "matched":
                matcher = assistant.knowledge_file.current().matcher
                if not matcher.emergency(inbound.body):
                    matcher.match(inbound.body)
            return [REPLY]

    parts = {"bare": lambda inbound: [REPLY], "turn": turn, "matched": turn}
    assistant.respond = parts[part]
    return app
