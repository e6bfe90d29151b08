"""The history of conversations: every patient's, open or closed, newest first, and a search through them.

The index (Keys.history) is written with the transcripts themselves (end_turn.lua, append.lua, history.lua); what
it keeps of a patient between chats with coordinators is their contact (profile name, number of handoffs).
"""

import json
import re

from bot.store.queue import chat_record

# Senders read from Redis at a time while listing or searching.
BATCH = 100
# A number is found by its last digits, at least this many: fewer would find too many patients.
MIN_DIGITS = 4
# A query of digits, spaces and the signs of a phone number is also read as the end of a number.
_NUMBER = re.compile(r"[\d\s+()-]+")
# The roles whose words a search reads: what people wrote, not the assistant's stock replies.
SEARCHED = ("patient", "coordinator")
EXCERPT = 160
# What JSON may write otherwise than as the character itself.
_ESCAPED = re.compile(r'["\\/\x00-\x1f]')


class History:
    """Every conversation by its last message: the console's history, found by name, number or words."""

    def contact(self, sender):
        """What the history keeps of the patient: their profile name ("" when none) and how many handoffs they had."""
        return _contact(self.redis.hgetall(self.keys.of("contact", sender)))

    def conversations(self, query="", offset=0, limit=50):
        """(conversations, more): those matching `query` (all when empty), newest first, from `offset`, at most `limit`.

        Each is {sender, at (when its transcript was last written), id, chat (the record while a coordinator is
        awaited or writing, else None), contact, match (the message that holds the query's words, else None)}.
        A query matches the profile name, the number's last digits (MIN_DIGITS or more), or words of the messages
        the patient and the coordinators wrote (each word somewhere, in any case). `more` is True when more match.
        """
        words = query.casefold().split()
        digits = re.sub(r"\D", "", query) if _NUMBER.fullmatch(query) else ""
        found, start, gone = [], 0, []
        while len(found) <= offset + limit:
            page = self.redis.zrevrange(self.keys.history, start, start + BATCH - 1, withscores=True)
            if not page:
                break
            start += len(page)
            for conversation in self._read(page, bool(words)):
                if conversation.get("gone"):
                    gone.append(conversation["sender"])
                elif _matches(conversation, words, digits if len(digits) >= MIN_DIGITS else ""):
                    found.append(conversation)
        if gone:
            # Their transcript expired (or was erased) since their last write: they leave the history.
            self.redis.zrem(self.keys.history, *gone)
        shown = found[offset:offset + limit]
        for conversation in shown:
            conversation["id"] = conversation["id"] or self.chat_id(conversation["sender"])
            conversation.pop("transcript")
        return shown, len(found) > offset + limit

    def _read(self, page, with_messages):
        """The conversations of a page of the index, read in one round trip; their messages only for a search."""
        pipe = self.redis.pipeline(transaction=False)
        for sender, _ in page:
            key = self.keys.of("transcript", sender)
            if with_messages:
                pipe.lrange(key, 0, -1)
            else:
                pipe.exists(key)
            pipe.hgetall(self.keys.of("contact", sender))
            pipe.hgetall(self.keys.of("chat", sender))
            pipe.get(self.keys.of("chatref", sender))
        results = pipe.execute()
        for n, (sender, at) in enumerate(page):
            transcript, contact, chat, chat_id = results[4 * n:4 * n + 4]
            if not transcript:
                yield {"sender": sender, "gone": True}
                continue
            record = chat_record(sender, chat)
            yield {"sender": sender, "at": at, "id": record["id"] if record else chat_id, "chat": record,
                   "contact": _contact(contact), "match": None, "transcript": transcript if with_messages else []}


def _contact(raw):
    return {"profile": raw.get("profile", ""), "handoffs": int(raw.get("handoffs", 0))}


def _matches(conversation, words, digits):
    """True when the conversation matches; a match in the messages is kept in its `match`."""
    if not words:
        return True
    if digits and re.sub(r"\D", "", conversation["sender"]).endswith(digits):
        return True
    name = (conversation["contact"]["profile"] or (conversation["chat"] or {}).get("profile", "")).casefold()
    if all(word in name for word in words):
        return True
    # Most transcripts hold none of the words: they are ruled out before any entry is decoded. A word JSON would write
    # escaped (a quote, a slash) is looked for in the decoded messages only.
    whole = "\n".join(conversation["transcript"]).casefold()
    if not all(word in name or word in whole or _ESCAPED.search(word) for word in words):
        return False
    messages = [m for m in map(json.loads, conversation["transcript"]) if m.get("role") in SEARCHED and m.get("text")]
    texts = [m["text"].casefold() for m in messages]
    if not all(word in name or any(word in text for text in texts) for word in words):
        return False
    # Shown as the reason it was found: the first message with the most of the words.
    best = max(range(len(texts)), key=lambda n: (sum(word in texts[n] for word in words), -n))
    conversation["match"] = {**messages[best], "text": _excerpt(messages[best]["text"], texts[best], words)}
    return True


def _excerpt(text, folded, words):
    """The part of `text` around the first of `words` it holds, at most EXCERPT characters."""
    if len(text) <= EXCERPT:
        return text
    first = min((folded.find(word) for word in words if word in folded), default=0)
    start = max(0, min(first - EXCERPT // 3, len(text) - EXCERPT))
    return ("…" if start else "") + text[start:start + EXCERPT].strip() + ("…" if start + EXCERPT < len(text) else "")
