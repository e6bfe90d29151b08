"""Hindi texts that may no longer say what the English says: the English changed and the Hindi did not.

Redis keeps, per text (an intent's title or reply, a message), fingerprints of its English and Hindi as they were
last known to agree. The first time a text is seen, both count as agreeing; when its English changed and its Hindi
did not, the Hindi is stale until it is edited or an editor confirms it is still right. Edits made in the console
and in the file are noticed alike, as the texts are compared whenever the editor's pages read the file.
"""

import json

from bot.knowledge import editing


def texts(data):
    """{text name: (English, Hindi)} of every title, reply and message of the file's data written in both."""
    found = {}
    intents = data.get("intents") if isinstance(data, dict) else None
    messages = data.get("messages") if isinstance(data, dict) else None
    for intent_id, body in (intents if isinstance(intents, dict) else {}).items():
        for field in ("title", "reply"):
            _add(found, f"intents.{intent_id}.{field}", body.get(field) if isinstance(body, dict) else None)
    for name, value in (messages if isinstance(messages, dict) else {}).items():
        _add(found, f"messages.{name}", value)
    return found


def _add(found, name, value):
    if isinstance(value, dict) and value.get("en") is not None and value.get("hi") is not None:
        found[name] = (value["en"], value["hi"])


def _fingerprint(value):
    """The fingerprint of a text or its pages, blank lines around them aside (the file's blocks end in a newline)."""
    pages = value if isinstance(value, list) else [value]
    return editing.fingerprint(json.dumps([str(page).strip() for page in pages], ensure_ascii=False))


def stale(store, name, data):
    """The names of the texts of the file `name` whose Hindi is stale; every other text is recorded as agreeing."""
    known, agreed, found = store.agreed_texts(name), {}, set()
    for text, (english, hindi) in texts(data).items():
        now = {"en": _fingerprint(english), "hi": _fingerprint(hindi)}
        before = known.get(text)
        if before == now:
            continue
        if before is None or before.get("hi") != now["hi"]:
            agreed[text] = now  # seen for the first time, or the Hindi was written again: they agree as they are
        else:
            found.add(text)
    store.agree_texts(name, agreed)
    return found


def confirm(store, name, data, text):
    """An editor says the Hindi of `text` still says what the English says; False when the file has no such text."""
    both = texts(data).get(text)
    if both is None:
        return False
    store.agree_texts(name, {text: {"en": _fingerprint(both[0]), "hi": _fingerprint(both[1])}})
    return True
