"""The store's Lua scripts: each in a .lua file beside this module, with the function files it calls put in front.

A script that takes many keys or arguments finds them by name: a header made here from the lists below
names them (K.state is the key named "state", A.token the argument named "token"), and a call passes
them as {name: value}, put in the listed order here. Adding one is one entry in a list, never a count.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from bot.store.keys import CONVERSATION_KINDS, SENDER_KINDS

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Signature:
    """What a script calls and takes: function files, named keys and arguments (none: it reads KEYS and ARGV itself)."""

    functions: tuple = ()
    keys: tuple = ()
    args: tuple = ()
    # Lists of keys by name, such as every key kept about a sender.
    groups: dict = field(default_factory=dict)


_TAKING_KEYS = ("turn", "line", "beat", "seen")
_TAKING_ARGS = ("token", "lock_ms", "has_sid", "deadline_us", "silence_s")

SCRIPTS = {
    "begin": Signature(("take", "read"), (*_TAKING_KEYS, "rate", *CONVERSATION_KINDS), (*_TAKING_ARGS, "window_s")),
    "poll": Signature(("take", "read"), (*_TAKING_KEYS, *CONVERSATION_KINDS), _TAKING_ARGS),
    # Then, after the named ones, the keys an erasure deletes, and the transcript's entries as pairs (kind, entry).
    "end_turn": Signature(
        ("chat_id", "release", "escalate", "transcript", "history", "keep_question", "count_message"),
        ("turn", "seen", "activity", "patients", "waiting", "claimed", "questions", "question", "chatid", "history",
         *SENDER_KINDS),
        ("token", "mark_seen", "seen_s", "retention", "limit", "activity_s", "sender", "state", "notice", "consent",
         "opted_at", "release", "touch", "taken", "question", "question_id", "asked_at", "counted", "intent",
         "escalate", "urgent", "reason", "chat_id", "since", "profile", "ahead", "alerting", "form", "erase",
         "erased_questions", "contact_name"),
        {"SENDER_KEYS": SENDER_KINDS}),
    # A chat queued when the patient's turn failed (the same escalate() as end_turn's).
    "escalate_alone": Signature(
        ("chat_id", "escalate"), ("chat", "chatref", "chatid", "waiting", "activity", "contact"),
        ("sender", "urgent", "reason", "chat_id", "since", "profile", "ahead", "alerting", "form", "retention",
         "activity_s")),
    # An entry written outside the sender's turn (a coordinator's, a notice), recorded once when it has a sid.
    "append": Signature(("history",), ("transcript", "seen", "contact", "history"), ("entry", "retention", "sender", "has_sid")),
    "get_chat_id": Signature(("chat_id",)),
    "claim": Signature(),
    "assign": Signature(),
    "update_chat": Signature(),
    "release_chat": Signature(("release",)),
    "login_try": Signature(),
    "login_give_back": Signature(),
    "schema_step": Signature(),
    "dump": Signature(),
}


class Script:
    """One registered script (Redis learns it on its first use), called with its keys and arguments by name."""

    def __init__(self, client, name):
        self.signature = SCRIPTS[name]
        self.registered = client.register_script(text(name))

    def __call__(self, client, keys, args, more_keys=(), more_args=()):
        """Run on `client`; `keys` and `args` are lists for a script that names none, else {name: value} for each
        of its names; `more_keys` and `more_args` follow the named ones."""
        if self.signature.keys:
            keys = [keys[name] for name in self.signature.keys]
            args = [_value(args[name]) for name in self.signature.args]
        return self.registered(keys=[*keys, *more_keys], args=[*args, *more_args], client=client)


def register(client):
    """{name: Script} for every script."""
    return {name: Script(client, name) for name in SCRIPTS}


def text(name):
    """The script's whole text: the header naming its keys and arguments, its functions, then itself."""
    signature = SCRIPTS[name]
    parts = [_header(signature)] if signature.keys else []
    parts += [(HERE / f"{part}.lua").read_text(encoding="utf-8") for part in (*signature.functions, name)]
    return "\n".join(parts)


def _header(signature):
    def table(names, array):
        return "{" + ", ".join(f"[{json.dumps(name)}] = {array}[{n}]" for n, name in enumerate(names, 1)) + "}"

    lines = ["-- Made by scripts.py: the keys and arguments by name, as the call passed them.",
             f"local K, A = {table(signature.keys, 'KEYS')}, {table(signature.args, 'ARGV')}",
             f"local NAMED_KEYS, NAMED_ARGS = {len(signature.keys)}, {len(signature.args)}"]
    for group, names in signature.groups.items():
        lines.append(f"local {group} = {{" + ", ".join(f"K[{json.dumps(name)}]" for name in names) + "}")
    return "\n".join(lines) + "\n"


def _value(value):
    """An argument as the scripts read it: "1" or "" for yes or no, "" for none."""
    if value is True:
        return "1"
    if value is False or value is None:
        return ""
    return value
