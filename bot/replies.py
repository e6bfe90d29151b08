"""How an answer goes out: wording in the patient's language, numbered choices, pages under the size limit."""

import dataclasses
import re
from dataclasses import dataclass, field

from bot import pending, signoff
from bot.knowledge import MAX_REPLY, fill

MENU = "{menu}"


class Words:
    """The knowledge file's wording in the conversation's current language, with the app's placeholders filled in."""

    def __init__(self, knowledge, settings, state):
        self.knowledge, self.settings, self.state = knowledge, settings, state

    @property
    def lang(self):
        """The conversation's language now (a HINDI or ENGLISH command changes it mid-answer)."""
        return self.state.get("lang", "en")

    def render(self, text, lang=None, **values):
        """Fill {emergency_numbers}, {mental_health_helpline} and the given values; {menu} stays for the layout to place.

        `lang` is the language the text is written in (the conversation's by default).
        """
        # In a Hindi reply the words around the numbers are Hindi too; in English text that stands in for a
        # missing Hindi one, English.
        hindi = (lang or self.lang) == "hi"
        numbers = self.settings.EMERGENCY_NUMBERS_HI if hindi else self.settings.EMERGENCY_NUMBERS
        helpline = self.settings.MENTAL_HEALTH_HELPLINE_HI if hindi else self.settings.MENTAL_HEALTH_HELPLINE
        return fill(text, emergency_numbers=numbers, mental_health_helpline=helpline, **values)

    def message(self, name, **values):
        """A message from the knowledge file's `messages`."""
        return self.render(self.knowledge.message(name, self.lang), self._written_in(self.knowledge.messages[name]), **values)

    def pages(self, intent_id):
        """An intent's reply, page by page."""
        lang = self._written_in(self.knowledge.intents[intent_id].pages)
        return [self.render(page, lang) for page in self.knowledge.pages(intent_id, self.lang)]

    def _written_in(self, texts):
        """The language the conversation gets of these texts: its own, or English when they have none in it."""
        return self.lang if self.lang in texts else "en"

    def choices(self, intent_ids):
        """(intent id, title) pairs for a list the patient can pick from; ids an edit removed are left out."""
        return tuple((i, self.knowledge.title(i, self.lang)) for i in intent_ids if i in self.knowledge.intents)


@dataclass
class Answer:
    """What to say to one message: pages of text (none for silence) and the topics to offer after the last."""

    intent: str | None
    pages: list = field(default_factory=list)
    followups: tuple = ()
    # Pages of this answer already sent (MORE continues a long answer).
    shown: int = 0
    # The patient asked for everything about them to be erased, this exchange included.
    erase: bool = False
    # A short reply in place of the answer: "above" points to it, "more" to its related topics, "waiting" says what
    # to do while help comes after the emergency reply; "" for the answer itself.
    pointed: str = ""


@dataclass(frozen=True)
class Message:
    """One WhatsApp message: its text, and the choices (intent id, title) it offers under a heading."""

    body: str
    choices: tuple = ()
    heading: str = ""
    # The welcome notice: at the end of this message (`footer`), or as a message of its own after it (`notice`).
    footer: str = ""
    notice: str = ""

    def as_text(self):
        """The message with its choices as a numbered list, where {menu} stands or else at the end, then the footer."""
        if not self.choices:
            text = self.body.replace(MENU, "").strip()
        elif MENU in self.body:
            text = self.body.replace(MENU, numbered(self.heading, self.choices))
        else:
            text = f"{self.body}\n\n{numbered(self.heading, self.choices)}"
        return f"{text}\n\n{self.footer}" if self.footer else text

    def as_body(self):
        """The message without its list, for when the choices go out as WhatsApp buttons."""
        body = re.sub(r"\n{3,}", "\n\n", self.body.replace(MENU, "")).strip()
        return f"{body}\n\n{self.footer}" if self.footer else body


def numbered(heading, choices):
    """A heading line (when there is one) and "1. Title" lines."""
    return "\n".join([heading] * bool(heading) + [f"{n}. {title}" for n, (_, title) in enumerate(choices, 1)])


def lay_out(answer, words, state, welcome=None):
    """The message to send now, the welcome at its end; the rest of a long answer waits for MORE.

    The welcome never pushes a line of the answer's first page (its warning, its pointer to the care team) onto a
    second page: when it does not fit at the end of the message, it goes as a message of its own after it.
    """
    message = _answer_message(answer, words, state)
    if not welcome:
        return message
    if len(message.as_text()) + 2 + len(welcome) < MAX_REPLY:
        return dataclasses.replace(message, footer=welcome)
    return dataclasses.replace(message, notice=welcome)


def _answer_message(answer, words, state):
    """The answer's first page, with the MORE line, the menu or its follow-ups where they fit."""
    menu = words.choices(words.knowledge.menu)
    menu_block = len(numbered(words.message("menu_header"), menu))
    # Room for the MORE line after a page; a page is cut only when it does not fit with that line.
    hint = len(words.message("more_hint", page=99, pages=99)) + 2
    chunks = [chunk for page in answer.pages
              for chunk in split(page, MAX_REPLY - 1 - hint - (menu_block if MENU in page else 0))]
    first, rest = chunks[0], chunks[1:]
    body = first
    if rest:
        page = answer.shown + 1
        body += "\n\n" + words.message("more_hint", page=page, pages=page + len(rest))
        pending.keep_more(state, answer.intent, rest, answer.followups, page)
    if MENU in first:
        return Message(body, menu, words.message("menu_header"))
    followups = Message(body, words.choices(answer.followups), words.message("followups_header"))
    # Follow-ups are an offer: they come after the last page when they fit, never at the cost of a split.
    if not rest and followups.choices and len(followups.as_text()) < MAX_REPLY:
        return followups
    return Message(body)


def split(text, room):
    """Cut a text into pieces of at most `room` characters, at a paragraph, line or word break."""
    pieces, room = [], max(room, 1)
    while len(text) > room:
        for separator in ("\n\n", "\n", " "):
            cut = text.rfind(separator, 0, room)
            # A break in the first third would leave a stub of a page; look for a smaller break instead.
            if cut > room // 3:
                break
        else:
            cut = room
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return pieces + [text]


def more_on(topic, words, state):
    """MORE after a one-page answer: its related topics and the offer of a coordinator, once; else the menu."""
    intents = words.knowledge.intents
    followups = topic and topic.pointed != "more" and topic.intent in intents and intents[topic.intent].followups
    if not followups:
        return Answer(None, [words.message("nothing_more")])
    pending.ask(state, "handoff")
    title = words.knowledge.title(topic.intent, words.lang)
    return Answer(topic.intent, [words.message("more_on_topic", topic=title)], followups, pointed="more")


def also(answer, other, words, state):
    """The message's other question: answered too when both fit in one message, else offered as number 1."""
    both = f"{answer.pages[0]}\n\n{words.pages(other)[0]}"
    # A medical reply still to be signed off is offered, never sent with another (UNSIGNED_MEDICAL_REPLIES=offer).
    if (len(answer.pages) == 1 and len(words.pages(other)) == 1 and len(both) < MAX_REPLY
            and not signoff.held_back(words.knowledge.intents[other], words.settings)):
        answer.pages, answer.followups = [both], ()
        return
    answer.pages[-1] += "\n\n" + words.message("also_asked", topic=words.knowledge.title(other, words.lang))
    answer.followups = (other, *[f for f in answer.followups if f != other][:2])
    pending.offer(state, [other])
