"""Edits of a knowledge file made in the console: a field set or an item added, every other line kept as written.

The file stays the source of truth: an edit is the file's text with one value replaced, checked as
`python -m bot check` checks it, then written in place of the file (which every process reloads).
"""

import datetime
import hashlib
import json
import os
import re
import tempfile

import yaml

from bot.knowledge.files import read_text

# Written without quotes: an intent id or a language code reads the same either way.
_ID = re.compile(r"[a-z][a-z0-9_.]*")


class EditError(Exception):
    """An edit that cannot be made, with the reason in an editor's words."""


def fingerprint(text):
    """A short name of a file's text: an edit names the text it was made on, so a change meanwhile is noticed."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def change(text, at, value):
    """The text with the field at `at` (keys from the top, e.g. ("intents", "costs", "reply")) set to `value`.

    A missing last key is added at the end of its map; a value may be text, a date, None, a list of texts or a
    map of such values (one text per language).
    """
    parent, key, value_node = _find(text, at)
    if key is None and parent.flow_style:
        # Inside {...} a block cannot start: the new field goes before the closing brace, on the same line.
        close = text.rindex("}", 0, parent.end_mark.index)
        return text[:close] + (", " if parent.value else "") + _key(at[-1]) + " " + _flow(value) + text[close:]
    if key is None:
        indent = parent.value[0][0].start_mark.column if parent.value else 0
        end = _end(text, parent)
        line = " " * indent + _key(at[-1]) + _render(value, indent)
        return text[:end] + "\n" + line + text[end:]
    indent = key.start_mark.column
    if parent.flow_style or (isinstance(value_node, yaml.CollectionNode) and value_node.flow_style):
        rendered = " " + _flow(value)  # what is written on one line ({...}, [...]) stays so
    else:
        rendered = _render(value, indent)
    return text[:key.end_mark.index] + ":" + rendered + text[_end(text, value_node):]


def append(text, at, item):
    """The text with `item` added at the end of the list at `at`, the items before it untouched."""
    _, key, node = _find(text, at)
    if key is None or not isinstance(node, yaml.SequenceNode):
        raise EditError(f"{'.'.join(at)} is not a list in the file")
    if node.flow_style or not node.value:
        items = [item_node.value for item_node in node.value] + [item]
        return change(text, at, items)
    end, last = _end(text, node), node.value[-1]
    column = last.start_mark.column - 2  # the "- " before the item
    written = item if not last.style and _plain_safe(item) else _scalar(item)  # as the items before it are
    return text[:end] + "\n" + " " * column + "- " + written + text[end:]


def _plain_safe(item):
    """True when the text reads back the same without quotes (no YAML punctuation, no number or true/false)."""
    try:
        return isinstance(item, str) and item == item.strip() and yaml.safe_load(f"- {item}") == [item]
    except yaml.YAMLError:
        return False


def _find(text, at):
    """(the map holding the last key, its key node or None, its value node or None) in the text's node tree."""
    try:
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise EditError(f"the file cannot be read as it is on disk ({exc})") from None
    for depth, name in enumerate(at):
        if not isinstance(node, yaml.MappingNode):
            raise EditError(f"{'.'.join(at[:depth]) or 'the file'} is not a map of fields")
        pairs = {k.value: (k, v) for k, v in node.value}
        if name not in pairs:
            if depth == len(at) - 1:
                return node, None, None
            raise EditError(f"the file has no {'.'.join(at[:depth + 1])}")
        parent = node
        key, node = pairs[name]
    return parent, key, node


def _end(text, node):
    """Where the node's own text ends: trailing blank lines and comments (which belong to what follows) left out."""
    if isinstance(node, yaml.ScalarNode):
        if node.style in ("|", ">"):
            return node.start_mark.index + len(text[node.start_mark.index:node.end_mark.index].rstrip())
        return node.end_mark.index
    if node.flow_style or not node.value:
        return node.end_mark.index
    last = node.value[-1]
    return _end(text, last[1] if isinstance(node, yaml.MappingNode) else last)


def _key(name):
    return f"{name}:"


def _render(value, indent):
    """The YAML after a key at column `indent`: ' value' on the key's line, or the lines of a block below it."""
    inner = " " * (indent + 2)
    if isinstance(value, dict):
        return "".join(f"\n{inner}{name}:{_render(item, indent + 2)}" for name, item in value.items())
    if isinstance(value, (list, tuple)):
        # An item is written as a value would be after a key: a page of a reply as a block of its own ("- |").
        return "".join(f"\n{inner}-{_render(item, indent + 2)}" for item in value) if value else " []"
    if isinstance(value, str) and ("\n" in value.strip("\n") or len(value) > 100) and _literal_safe(value):
        # Kept as written: a reply's lines, blank lines and bullets read in the file as they do on the phone.
        body = value.rstrip("\n")
        lines = "".join(f"\n{inner}{line}" if line.strip() else "\n" for line in body.split("\n"))
        return " |" + lines
    return " " + _scalar(value)


def _flow(value):
    """A value written on one line: {name: value, ...}, [item, ...] or a scalar."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar(name)}: {_flow(item)}" for name, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(item) for item in value) + "]"
    return _scalar(value)


def _literal_safe(value):
    """True when a literal block keeps the text exactly (no leading space or tab, nothing YAML reads differently)."""
    first = value.lstrip("\n").split("\n", 1)[0]
    return first and not first[0].isspace() and "\t" not in value and "\r" not in value


def _scalar(value):
    """A value on one line: null, a date, an id as it is, or text in double quotes (YAML reads JSON's quoting)."""
    if value is None:
        return "null"
    if isinstance(value, datetime.date):
        return value.isoformat()
    if _ID.fullmatch(str(value)) and str(value) not in ("null", "true", "false", "yes", "no", "on", "off"):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)


def write(path, text):
    """Replace the file with `text` at once (a reader sees the old file or the new one, never half of it)."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        handle, temporary = tempfile.mkstemp(prefix=".edit-", suffix=".tmp", dir=folder)
    except OSError:
        # A file mounted alone into a container cannot be replaced, only rewritten: its folder is not ours.
        with open(path, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        return
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        try:
            os.chmod(temporary, os.stat(path).st_mode & 0o777)
        except OSError:
            pass  # a new file keeps the default permissions
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def current(path, max_bytes):
    """(text, fingerprint) of the file as it is on disk."""
    text = read_text(path, max_bytes)
    return text, fingerprint(text)
