"""Conversation flows through Assistant.respond, without HTTP, on the fixture knowledge."""

import pytest

from bot import create_app
from bot.inbound import Inbound
from tests.conftest import FIXTURE_KNOWLEDGE, conversation_of, saw_the_welcome

PATIENT = "whatsapp:+919800000001"
WELCOME = "Notice: information, not medical advice. AGENT for a person, STOP to stop."
MENU = "Topics:\n1. About therapy\n2. Side effects\n3. Costs\n4. Talk to a person"
GREETING = f"Welcome to the test clinic.\n{MENU}\nReply AGENT for a person."
SIDE_EFFECTS = "Fever and chills are common. Ask your care team.\n\nRelated:\n1. Coping\n2. What to expect"
COSTS = "Costs vary. Ask the care team for an estimate."
# Every reply that is not an answer ends with the emergency numbers (the EMERGENCY_NUMBERS settings, by default).
SOS = "In an emergency call 112 (emergency) or 108 (ambulance)."
SOS_HI = "इमरजेंसी में 112 (इमरजेंसी) या 108 (एम्बुलेंस) पर फ़ोन करें।"
UNKNOWN_CHOICE = f"That number is not on the list. {MENU} {SOS}"
NOTHING_MORE = f"Nothing more on that. {MENU} {SOS}"
FALLBACK = f"Sorry, I did not understand. Reply MENU for topics or AGENT for a person. {SOS}"
FALLBACK_HI = f"माफ़ कीजिए, मैं समझ नहीं पाया। {SOS_HI}"
MEDIA = f"I can read text only. Please type your question. {SOS}"
# The emergency reply ends with when a person will write (office hours are not set in the tests: always open).
EMERGENCY = "Call 112 (emergency) or 108 (ambulance) now. A coordinator will write soon."


@pytest.fixture
def assistant(app):
    return app.extensions["assistant"]


@pytest.fixture
def chat(assistant):
    """A patient who has already seen the welcome notice; `chat("text")` returns the replies."""
    saw_the_welcome(assistant.store, PATIENT, "test-1")
    return lambda text, **fields: say(assistant, text, **fields)


def say(assistant, text, sender=PATIENT, **fields):
    return assistant.respond(Inbound(sender=sender, body=text, **fields))


# Menus and follow-ups

def test_a_number_after_the_menu_picks_that_topic_and_its_follow_ups_are_numbered(chat):
    assert chat("namaste") == [GREETING]
    assert chat("2") == [SIDE_EFFECTS]
    assert chat("1") == ["Rest and drink water. Ask your care team."]


def test_the_menu_is_used_once(chat):
    chat("hello")
    assert chat("3") == ["Costs vary. Ask the care team for an estimate."]
    assert chat("3") == [UNKNOWN_CHOICE]


def test_a_number_without_a_menu_shows_the_menu_instead_of_guessing(chat):
    assert chat("4") == [UNKNOWN_CHOICE]
    assert chat("4") == ["A coordinator will take over. Reply CANCEL to go back."]


def test_a_number_beyond_the_list_shows_the_menu_again(chat):
    chat("what are the side effects")
    assert chat("9") == [UNKNOWN_CHOICE]
    assert chat("2") == [SIDE_EFFECTS]


def test_menu_at_any_time_shows_the_topics(chat):
    chat("what are the side effects")
    assert chat("MENU") == [MENU]
    assert chat("3") == ["Costs vary. Ask the care team for an estimate."]


def test_more_goes_through_every_page_then_offers_follow_ups(chat):
    assert chat("what to expect") == ["Page one, before treatment. Ask your care team.\n\nReply MORE (1/3)"]
    assert chat("more") == ["Page two, during treatment. Ask your care team.\n\nReply MORE (2/3)"]
    assert chat("MORE") == ["Page three, after treatment. Ask your care team.\n\nRelated:\n1. Side effects"]
    # After the last page MORE offers the related topics once more, with a coordinator; then there is nothing more.
    assert chat("more") == [f"That is all on What to expect. Pick a related topic or reply YES for a coordinator. {SOS}"
                            "\n\nRelated:\n1. Side effects"]
    assert chat("more") == [NOTHING_MORE]


def test_more_with_nothing_pending_says_so_and_shows_the_menu(chat):
    assert chat("more") == [NOTHING_MORE]
    assert chat("1") == ["Interleukin therapy uses immune messengers. Ask your care team."]


def test_a_new_question_drops_the_rest_of_a_long_answer(chat):
    chat("what to expect")
    assert chat("how much does it cost") == ["Costs vary. Ask the care team for an estimate."]
    assert chat("more") == [NOTHING_MORE]


def test_thanks_closes_the_topic(chat):
    chat("hello")
    assert chat("thank you") == ["You are welcome."]
    assert chat("2") == [UNKNOWN_CHOICE]


def test_a_greeting_mid_conversation_keeps_the_rest_of_the_state(chat, assistant):
    chat("hindi")
    with assistant.store.lock(PATIENT) as lock:
        lock.conversation.save({**lock.conversation.state, "handoff": "waiting"})
    chat("hello")
    state = assistant.store.load(PATIENT)
    assert state["handoff"] == "waiting" and state["lang"] == "hi"


# First contact

def test_the_first_reply_carries_the_welcome_once(assistant):
    # The welcome goes after the answer, so nothing of the answer is pushed down or onto a second page.
    assert say(assistant, "how much does it cost") == [f"{COSTS}\n\n{WELCOME}"]
    assert say(assistant, "does insurance cover it") == ["Check with your insurer."]
    assert conversation_of(assistant.store, PATIENT).notice == "test-1"


def test_a_changed_notice_is_shown_again(app, test_config, tmp_path):
    say(app.extensions["assistant"], "hello")
    edited = tmp_path / "knowledge.yaml"
    edited.write_text(FIXTURE_KNOWLEDGE.read_text(encoding="utf-8").replace("notice_version: test-1", "notice_version: test-2"), encoding="utf-8")
    assistant = create_app({**test_config, "KNOWLEDGE_PATH": str(edited)}).extensions["assistant"]
    assert say(assistant, "how much does it cost") == [f"{COSTS}\n\n{WELCOME}"]
    assert conversation_of(assistant.store, PATIENT).notice == "test-2"


def test_an_emergency_first_gets_only_the_emergency_reply(assistant):
    assert say(assistant, "i cannot breathe") == [EMERGENCY]
    # The welcome comes with the next thing the assistant says (here: the wait for a coordinator is cancelled).
    assert say(assistant, "cancel") == [f"No coordinator will take over. You are back with the assistant.\n\n{WELCOME}"]


def _long_costs(test_config, tmp_path, pages):
    """An assistant whose costs reply is pages of paragraphs of 319 characters ([3] for one page of three paragraphs).

    Returns the assistant and the paragraphs of each page.
    """
    paragraphs, n = [], 0
    for count in pages:
        paragraphs.append([f"Paragraph {n + i}: " + ("the care team explains each step. " * 9).strip() for i in range(1, count + 1)])
        n += count
    reply = "".join("      - |\n" + _indent("\n\n".join(page), 8) for page in paragraphs)
    text = FIXTURE_KNOWLEDGE.read_text(encoding="utf-8").replace(
        "    reply: Costs vary. Ask the care team for an estimate.", "    reply:\n" + reply)
    path = tmp_path / "knowledge.yaml"
    path.write_text(text, encoding="utf-8")
    return create_app({**test_config, "KNOWLEDGE_PATH": str(path)}).extensions["assistant"], paragraphs


def test_a_welcome_that_does_not_fit_with_a_long_answer_goes_after_it_on_its_own(app, test_config, tmp_path):
    # 961 characters: the answer fits one message, but not with the welcome after it.
    assistant, [paragraphs] = _long_costs(test_config, tmp_path, [3])
    replies = say(assistant, "how much does it cost")
    # The welcome never pushes the end of the answer (its pointer to the care team) onto a second page.
    assert replies == ["\n\n".join(paragraphs), WELCOME]
    assert all(len(reply) < 1000 for reply in replies)
    assert say(assistant, "more") == [NOTHING_MORE]


def test_a_welcome_with_a_long_answer_is_paged_under_the_limit(app, test_config, tmp_path):
    # Two pages, the first of 961 characters: it fits one message, but not with the welcome after it.
    assistant, [one, two] = _long_costs(test_config, tmp_path, [3, 1])
    first = say(assistant, "how much does it cost")
    second = say(assistant, "more")
    assert first == ["\n\n".join(one) + "\n\nReply MORE (1/2)", WELCOME]
    assert second == two
    assert all(len(reply) < 1000 for reply in first + second)


def test_follow_ups_that_do_not_fit_are_left_out_rather_than_splitting_the_answer(chat, test_config, tmp_path):
    # 965 characters: fits alone, but not with the follow-up list after it.
    long_reply = "Your care team explains the side effects. " * 23
    text = FIXTURE_KNOWLEDGE.read_text(encoding="utf-8").replace(
        "      en: Fever and chills are common. Ask your care team.", "      en: " + long_reply.strip(), 1)
    path = tmp_path / "knowledge.yaml"
    path.write_text(text, encoding="utf-8")
    assistant = create_app({**test_config, "KNOWLEDGE_PATH": str(path)}).extensions["assistant"]
    assert say(assistant, "what are the side effects") == [long_reply.strip()]
    # MORE then offers them.
    assert say(assistant, "more")[0].endswith("\n\nRelated:\n1. Coping\n2. What to expect")


def _indent(text, spaces):
    return "\n".join(" " * spaces + line if line else "" for line in text.splitlines()) + "\n"


# Opt-out

def test_stop_is_confirmed_once_then_silence_until_start(chat, assistant):
    assert chat("STOP") == ["You will get no more messages. Write START to resume."]
    assert chat("what are the side effects") == []
    assert chat("stop") == []
    assert chat("START") == ["Messages are on again."]
    assert chat("what are the side effects") == [SIDE_EFFECTS]
    # The silent question is still in the transcript for the care team.
    assert "what are the side effects" in [m["text"] for m in assistant.store.transcript(PATIENT) if m["role"] == "patient"]


def test_hinglish_opt_out_is_confirmed_in_hindi(chat, assistant):
    assert chat("band karo") == ["अब आपको कोई मैसेज नहीं आएगा। फिर से शुरू करने के लिए START लिखें।"]
    assert conversation_of(assistant.store, PATIENT).opted_out
    assert chat("side effect kya hai") == []


def test_an_opt_out_in_a_sentence_is_asked_about_and_stops_messages_after_yes(chat, assistant):
    assert chat("please stop sending me these messages") == [f"Stop all messages? Reply YES to stop. {SOS}"]
    assert not conversation_of(assistant.store, PATIENT).opted_out
    assert chat("yes") == ["You will get no more messages. Write START to resume."]
    assert conversation_of(assistant.store, PATIENT).opted_out
    assert chat("how much does it cost") == []


def test_an_opt_out_in_a_sentence_followed_by_a_question_keeps_messages_on(chat, assistant):
    assert chat("please stop sending me these messages") == [f"Stop all messages? Reply YES to stop. {SOS}"]
    # Anything but YES sets the question aside and is answered as a new message.
    assert chat("how much does it cost") == [COSTS]
    # A later YES no longer answers the question: it is read as any text.
    assert chat("yes") == [FALLBACK]
    assert not conversation_of(assistant.store, PATIENT).opted_out


def test_an_emergency_while_opted_out_still_gets_the_emergency_reply(chat):
    chat("unsubscribe")
    assert chat("chest pain now") == [EMERGENCY]
    assert chat("how much does it cost") == []


def test_start_without_opting_out_shows_the_greeting(chat):
    assert chat("start") == [GREETING]


# Deleting data

def test_delete_my_data_after_yes_erases_every_key_of_the_patient(chat, assistant):
    chat("what are the side effects")
    assert chat("delete my data") == ["Delete everything about you? Reply YES or NO."]
    assert chat("yes") == ["Your data is deleted."]
    store = assistant.store
    assert [key for key in store.redis.scan_iter(f"{store.prefix}*") if PATIENT in key] == []
    # A later message starts afresh, with the welcome.
    assert say(assistant, "how much does it cost") == [f"{COSTS}\n\n{WELCOME}"]


def test_no_keeps_the_data(chat, assistant):
    chat("what are the side effects")
    chat("delete my data")
    assert chat("no") == ["Nothing was deleted."]
    assert len(assistant.store.transcript(PATIENT)) == 6


def test_another_question_instead_of_yes_deletes_nothing(chat, assistant):
    chat("delete my data")
    assert chat("how much does it cost") == ["Costs vary. Ask the care team for an estimate."]
    chat("yes")
    assert [m["text"] for m in assistant.store.transcript(PATIENT) if m["role"] == "patient"] == [
        "delete my data", "how much does it cost", "yes"]


# Hindi

def test_a_hindi_conversation_with_a_switch_to_english(chat, assistant):
    assert chat("side effect kya hai") == [
        "बुखार और ठंड लगना आम है। अपनी केयर टीम से पूछें।\n\nRelated:\n1. Coping\n2. What to expect"]
    assert chat("ENGLISH") == [f"English it is. {MENU}"]
    # The choice is remembered: Hinglish no longer switches back.
    assert chat("side effect kya hai") == [SIDE_EFFECTS]
    assert chat("हिंदी") == ["अब हिंदी में। विषय:\n1. थेरेपी क्या है\n2. दुष्प्रभाव\n3. Costs\n4. Talk to a person"]
    assert chat("2")[0].startswith("बुखार")


def test_devanagari_gets_hindi_and_missing_translations_fall_back_to_english(chat):
    assert chat("नमस्ते")[0].startswith("टेस्ट क्लिनिक में स्वागत है।\nविषय:\n1. थेरेपी क्या है")
    assert chat("3") == ["Costs vary. Ask the care team for an estimate."]
    assert chat("कुछ भी नहीं पता") == [FALLBACK_HI]


def test_the_emergency_reply_in_hindi(chat):
    chat("hindi")
    assert chat("chest pain now") == ["अभी 112 (इमरजेंसी) या 108 (एम्बुलेंस) पर फ़ोन करें। A coordinator will write soon."]


def test_the_language_follows_the_patient_until_they_choose_one(chat):
    chat("side effect kya hai")
    # One word says nothing about the language: still Hindi.
    assert chat("xyzzy") == [FALLBACK_HI]
    assert chat("how much does it cost") == ["Costs vary. Ask the care team for an estimate."]


# Media

def test_a_voice_note_sticker_or_document_gets_the_media_reply(chat):
    assert chat("", num_media=1) == [MEDIA]


def test_a_caption_is_answered_even_with_an_image(chat):
    assert chat("what are the side effects", num_media=1) == [SIDE_EFFECTS]


def test_a_location_gets_the_location_reply(chat):
    assert chat("", latitude="28.6139", longitude="77.2090") == [f"I cannot use locations. Please type your question. {SOS}"]


def test_media_between_a_menu_and_a_number_keeps_the_menu(chat):
    chat("hello")
    chat("", num_media=1)
    assert chat("2") == [SIDE_EFFECTS]


# Everything else

def test_an_unknown_question_gets_the_fallback(chat):
    assert chat("who won the cricket match yesterday") == [FALLBACK]


def test_the_emergency_reply_carries_the_configured_numbers(chat):
    assert chat("i cannot breathe") == [EMERGENCY]


def test_both_sides_go_to_the_transcript_with_the_intent(chat, assistant):
    chat("how much does it cost")
    transcript = assistant.store.transcript(PATIENT)
    assert [(m["role"], m["text"]) for m in transcript] == [
        ("patient", "how much does it cost"),
        ("assistant", "Costs vary. Ask the care team for an estimate."),
    ]
    assert transcript[0]["intent"] == "costs"


def test_every_key_of_a_patient_expires_after_the_retention_time(chat, assistant):
    chat("what are the side effects")
    chat("stop")
    store = assistant.store
    keys = [key for key in store.redis.scan_iter(f"{store.prefix}*") if PATIENT in key]
    # The rate counter's window is a minute, far shorter than the retention time.
    assert {key.split(":")[2] for key in keys} == {"state", "transcript", "optout", "notice", "rate"}
    assert all(0 < store.redis.ttl(key) <= store.retention_seconds for key in keys)


# Clarifying questions

def test_two_close_topics_are_offered_and_a_number_picks_one(chat):
    assert chat("side effects or nausea relief") == [f"Did you mean:\n1. Side effects\n2. Coping\n{SOS}"]
    assert chat("1") == [SIDE_EFFECTS]


def test_the_offer_is_answered_once(chat):
    chat("side effects or nausea relief")
    chat("1")
    assert chat("9") == [UNKNOWN_CHOICE]


def test_a_clear_question_is_answered_without_asking(chat):
    assert chat("what are the side effects") == [SIDE_EFFECTS]


# Retries, floods and failures

def test_a_superscript_digit_is_not_a_menu_number_but_a_devanagari_one_is(chat):
    chat("hello")
    assert chat("२") == [SIDE_EFFECTS]
    assert chat("²") == [FALLBACK]


def test_a_retry_of_a_handled_message_gets_nothing_and_is_not_recorded_again(chat, assistant):
    assert chat("how much does it cost", message_sid="SM1")
    assert chat("how much does it cost", message_sid="SM1") == []
    assert [m["role"] for m in assistant.store.transcript(PATIENT)] == ["patient", "assistant"]
    assert assistant.store.transcript(PATIENT)[0]["sid"] == "SM1"


@pytest.fixture
def limited(make_app):
    """An assistant that lets a sender send 3 messages a minute, to a patient who has seen the welcome."""
    assistant = make_app(RATE_LIMIT=3).extensions["assistant"]
    saw_the_welcome(assistant.store, PATIENT, "test-1")
    return assistant


def test_a_flood_gets_one_notice_then_silence_and_every_message_is_kept(limited):
    answers = [say(limited, f"how much does it cost {n}", message_sid=f"SM{n}") for n in range(6)]
    # The same topic again in a row points to the answer above.
    pointer = f"That is answered above (Costs). Reply YES for a coordinator. {SOS}"
    assert answers[:3] == [[COSTS], [pointer], [COSTS]]
    assert answers[3] == ["Too many messages; I will pause for a while. In an emergency call 112 (emergency) or 108 (ambulance)."]
    assert answers[4:] == [[], []]
    patient = [m for m in limited.store.transcript(PATIENT) if m["role"] == "patient"]
    assert [m["text"] for m in patient] == [f"how much does it cost {n}" for n in range(6)]
    assert [m.get("unanswered") for m in patient] == [None] * 3 + ["rate_limited"] * 3


def test_a_flood_at_the_transcripts_limit_is_counted_in_a_note_and_nothing_kept_is_dropped(make_app):
    assistant = make_app(RATE_LIMIT=3, TRANSCRIPT_LIMIT=12).extensions["assistant"]
    saw_the_welcome(assistant.store, PATIENT, "test-1")
    for n in range(20):
        say(assistant, f"how much does it cost {n}", message_sid=f"SM{n}")
    # An emergency still gets through, and is kept.
    assert say(assistant, "i cannot breathe", message_sid="SM99") == [EMERGENCY]
    transcript = assistant.store.transcript(PATIENT)
    # Three answered, one with the notice, then kept unanswered up to 12 entries: the first seven messages.
    patient = [m["text"] for m in transcript if m["role"] == "patient"]
    assert patient == [f"how much does it cost {n}" for n in range(7)] + ["i cannot breathe"]
    [note] = [m for m in transcript if m.get("event") == "refused"]
    assert note["count"] == 13 and note["last"] >= note["at"]


def test_an_emergency_gets_through_the_rate_limit(limited):
    for n in range(5):
        say(limited, "price", message_sid=f"SM{n}")
    assert say(limited, "i cannot breathe", message_sid="SM9") == [EMERGENCY]


def test_a_message_that_failed_is_kept_unanswered_with_the_apology(assistant):
    assistant.store.redis.set(assistant.store.key("state", PATIENT), "{not json")
    with pytest.raises(ValueError):
        say(assistant, "hello", message_sid="SM1")
    assert assistant.keep(Inbound(sender=PATIENT, body="hello", message_sid="SM1"), ValueError("x")) == "error"
    assert [(m["role"], m["text"], m.get("unanswered")) for m in assistant.store.transcript(PATIENT)] == [
        ("patient", "hello", "error"),
        ("assistant", "Sorry, I cannot answer right now. In an emergency call 112 (emergency) or 108 (ambulance).", None),
    ]
    # The failure left the sender's turn free and the message unseen: Twilio's retry is answered.
    assistant.store.redis.delete(assistant.store.key("state", PATIENT))
    assert say(assistant, "hello", message_sid="SM2")
