"""The knowledge file: the real one is valid and complete; broken edits are named and refused."""

import gc
import os
import re
import time
import weakref

import pytest

from bot import knowledge
from bot.config import ROOT, Settings
from bot.knowledge import REQUIRED_INTENTS, KnowledgeError, KnowledgeFile
from bot.replies import Answer, Words, lay_out
from intents import HANDLERS
from tests.conftest import FIXTURE_KNOWLEDGE, wait_for

REAL = ROOT / "responses.yaml"
# The topics and messages patients see most: each has a Hindi text.
HINDI_INTENTS = ("greeting", "about_therapy", "side_effects", "manage_side_effects", "eligibility", "costs",
                 "financial_assistance", "support_groups", "human_handoff", "emergency", "opt_out", "thanks_goodbye",
                 "how_it_works", "benefits", "cancer_types", "comparison", "administration", "duration",
                 "what_to_expect", "research", "nutrition", "lifestyle", "insurance")
# The handoff notices reach the patient; the alerts (alert_*) go to staff and stay in English.
HANDOFF_MESSAGES = ("handoff_offer", "handoff_waiting", "handoff_after_hours", "handoff_claimed", "handoff_returned",
                    "handoff_cancelled")
HINDI_MESSAGES = ("fallback", "menu_header", "welcome", "media", "location", "opted_in", "menu", "language_set",
                  "followups_header", "more_hint", "nothing_more", "unknown_choice", "forget_confirm", "forgotten",
                  *HANDOFF_MESSAGES)
MEDICAL = ("about_therapy", "how_it_works", "benefits", "cancer_types", "side_effects", "manage_side_effects",
           "comparison", "administration", "duration", "what_to_expect", "research", "eligibility", "nutrition",
           "lifestyle")


@pytest.fixture(scope="module")
def real():
    return knowledge.load(REAL)


def test_the_real_file_loads_with_every_required_intent(real):
    assert set(REQUIRED_INTENTS) <= set(real.intents)


def test_every_intent_has_at_least_ten_example_phrases(real):
    thin = {i.id: len(i.phrases) for i in real.intents.values() if len(i.phrases) < 10}
    assert thin == {}


def test_every_page_of_every_reply_fits_in_one_whatsapp_message(real):
    pages = [page for i in real.intents.values() for texts in i.pages.values() for page in texts]
    assert all(len(page) < 1000 for page in pages)
    assert all(len(text) < 1000 for texts in real.messages.values() for text in texts.values())


@pytest.mark.parametrize("lang", ["en", "hi"])
def test_what_goes_out_stays_under_1000_characters_even_with_the_welcome(real, lang):
    """Each reply as sent (welcome in front, follow-ups or the MORE line after) in each language."""
    state = {"lang": lang}
    words = Words(real, Settings.from_env({}), state)
    for intent in real.intents.values():
        for welcome in (None, words.message("welcome")):
            answer = Answer(intent.id, words.pages(intent.id), intent.followups)
            sent = [lay_out(answer, words, state, welcome).as_text()]
            while state.get("more"):
                more = state.pop("more")
                sent.append(lay_out(Answer(intent.id, more["pages"], intent.followups, more["shown"]), words, state).as_text())
            assert all(len(text) < 1000 for text in sent), (intent.id, [len(text) for text in sent])


def test_medical_replies_point_to_the_care_team_in_every_language(real):
    care_team = {"en": "care team", "hi": "केयर टीम"}
    missing = [(i, lang) for i in MEDICAL for lang, pages in real.intents[i].pages.items()
               if care_team[lang] not in pages[-1].lower()]
    assert missing == []


def test_the_main_topics_and_messages_are_in_hindi(real):
    assert [i for i in HINDI_INTENTS if "hi" not in real.intents[i].pages] == []
    assert [m for m in HINDI_MESSAGES if "hi" not in real.messages[m]] == []
    assert [i for i in real.menu if "hi" not in real.intents[i].titles] == []


def test_the_greeting_shows_the_menu_and_the_emergency_reply_the_numbers_in_every_language(real):
    assert all("{menu}" in pages[0] for pages in real.intents["greeting"].pages.values())
    assert all("{emergency_numbers}" in pages[0] for pages in real.intents["emergency"].pages.values())


def test_the_menu_fits_in_a_whatsapp_list(real):
    assert len(real.menu) <= 10


def test_the_words_patients_use_for_the_fixed_commands(real):
    assert (real.command("STOP"), real.command("message mat bhejo"), real.command("मैसेज मत भेजो")) == ("stop",) * 3
    assert (real.command("more"), real.command("Start"), real.command("DELETE MY DATA")) == ("more", "start", "forget")
    assert (real.command("yes"), real.command("no"), real.command("हिंदी")) == ("yes", "no", "hindi")
    assert real.command("how do I stop the fever") is None


def test_every_handler_belongs_to_an_intent(real):
    assert set(HANDLERS) <= set(real.intents)


def broken(tmp_path, text):
    path = tmp_path / "responses.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeError) as error:
        knowledge.load(path)
    return str(error.value)


def fixture_text():
    return FIXTURE_KNOWLEDGE.read_text(encoding="utf-8")


def test_a_yaml_syntax_error_names_file_and_line(tmp_path):
    text = fixture_text().replace("  greeting:\n", "  greeting:\n   - oops: [\n", 1)
    message = broken(tmp_path, text)
    assert "responses.yaml:" in message and "YAML syntax error" in message


def test_a_misspelled_field_is_named_with_its_line_and_a_suggestion(tmp_path):
    text = fixture_text().replace("    reply: Costs vary.", "    replys: Costs vary.", 1)
    line = text.splitlines().index("    replys: Costs vary. Ask the care team for an estimate.") + 1
    message = broken(tmp_path, text)
    assert f"responses.yaml:{line}: intents.costs.replys: unknown field 'replys'; did you mean 'reply'?" in message


def test_a_missing_required_intent_is_named(tmp_path):
    text = fixture_text().replace("  opt_out:", "  opt_outt:", 1)
    assert "required intent 'opt_out' is missing" in broken(tmp_path, text)


def test_a_menu_entry_pointing_nowhere_is_named(tmp_path):
    text = fixture_text().replace("- costs\n", "- cost\n", 1)
    assert "menu.2: points at intent 'cost', which does not exist (did you mean 'costs'?)" in broken(tmp_path, text)


def test_a_reply_over_the_limit_is_named(tmp_path):
    text = fixture_text().replace("    reply: Costs vary.", "    reply: " + "Costs vary a lot. " * 60, 1)
    assert "intents.costs.reply: is 1115 characters; WhatsApp messages here must stay under 1000" in broken(tmp_path, text)


def test_an_intent_written_twice_is_named(tmp_path):
    text = fixture_text() + "  costs:\n    phrases: [price]\n    reply: again\n"
    assert "intents.costs: written twice" in broken(tmp_path, text)


def test_replies_per_language_and_pages_are_read(tmp_path):
    path = tmp_path / "responses.yaml"
    path.write_text(fixture_text(), encoding="utf-8")
    loaded = knowledge.load(path)
    assert loaded.pages("side_effects", "hi") == ("बुखार और ठंड लगना आम है। अपनी केयर टीम से पूछें।",)
    assert loaded.pages("costs", "hi") == ("Costs vary. Ask the care team for an estimate.",)
    assert len(loaded.pages("what_to_expect")) == 3
    assert loaded.message("fallback", "hi") == "माफ़ कीजिए, मैं समझ नहीं पाया। इमरजेंसी में {emergency_numbers} पर फ़ोन करें।"
    assert loaded.title("costs", "hi") == "Costs"


def test_an_unknown_language_is_named_with_its_line(tmp_path):
    text = fixture_text().replace("      hi: बुखार और", "      hn: बुखार और", 1)
    line = text.splitlines().index("      hn: बुखार और ठंड लगना आम है। अपनी केयर टीम से पूछें।") + 1
    assert f"responses.yaml:{line}: intents.side_effects.reply.hn: unknown language 'hn'; known: en, hi" in broken(tmp_path, text)


def test_a_translation_without_english_is_refused(tmp_path):
    text = fixture_text().replace("      en: Fever and chills are common. Ask your care team.\n", "", 1)
    assert "intents.side_effects.reply: needs the English text under 'en'" in broken(tmp_path, text)


def test_a_hindi_title_over_the_button_limit_is_named(tmp_path):
    text = fixture_text().replace("      hi: दुष्प्रभाव", "      hi: दुष्प्रभाव और उनसे निपटने के तरीके", 1)
    assert "intents.side_effects.title.hi: must be text of at most 20 characters" in broken(tmp_path, text)


def test_a_page_over_the_limit_is_named(tmp_path):
    text = fixture_text().replace("    - Page two, during treatment. Ask your care team.", "    - " + "y" * 1100, 1)
    line = text.splitlines().index("    - " + "y" * 1100) + 1
    assert f"responses.yaml:{line}: intents.what_to_expect.reply.1: is 1100 characters" in broken(tmp_path, text)


def test_a_command_word_under_two_commands_is_named(tmp_path):
    text = fixture_text().replace("  start: [start]", "  start: [start, more]", 1)
    assert "commands.start.1: 'more' is also under 'more'; keep it in one" in broken(tmp_path, text)


def test_yes_and_no_are_words_not_booleans(tmp_path):
    text = fixture_text().replace('  no: ["no", nahi]', "  no: [no, nahi, off]", 1)
    path = tmp_path / "responses.yaml"
    path.write_text(text, encoding="utf-8")
    loaded = knowledge.load(path)
    assert (loaded.command("yes"), loaded.command("NO"), loaded.command("off")) == ("yes", "no", "no")


def test_missing_commands_and_notice_version_are_named(tmp_path):
    text = fixture_text().replace("notice_version: test-1\n", "", 1).replace("  forget: [delete my data, mera data delete karo]\n", "", 1)
    message = broken(tmp_path, text)
    assert "required command 'forget' is missing" in message
    assert "notice_version: must name the version of messages.welcome" in message


def test_an_edit_is_picked_up_and_a_broken_one_keeps_the_last_good(tmp_path, caplog):
    path = tmp_path / "responses.yaml"
    path.write_text(fixture_text(), encoding="utf-8")
    source = KnowledgeFile(str(path), check_every=0)
    assert source.current().intents["costs"].reply.startswith("Costs vary.")

    path.write_text(fixture_text().replace("Costs vary.", "Prices differ."), encoding="utf-8")
    bump(path)
    assert source.current().intents["costs"].reply.startswith("Prices differ.")

    path.write_text(fixture_text().replace("    reply: Costs vary.", "    replys: Costs vary."), encoding="utf-8")
    bump(path)
    assert source.current().intents["costs"].reply.startswith("Prices differ.")
    assert "unknown field 'replys'" in str(source.error)
    assert "still serving the last good version" in caplog.text


def test_a_replaced_version_is_freed_without_waiting_for_the_garbage_collector(tmp_path):
    """Workers freeze what they loaded (gunicorn.conf.py): a version caught in a reference cycle would stay for good."""
    path = tmp_path / "responses.yaml"
    # A phrase of this test's own: a matcher of the same phrases that another test still uses is shared, not freed.
    own = fixture_text().replace("    - price\n", f"    - price\n    - price {tmp_path.name}\n", 1)
    path.write_text(own, encoding="utf-8")
    source = KnowledgeFile(str(path), check_every=0)
    first = source.current()
    first.matcher.match("what are the side efects")  # its reader keeps readings and corrections
    gone = [weakref.ref(part) for part in (first, first.matcher, first.matcher.reader, first.matcher.model)]
    gc.disable()
    try:
        del first
        path.write_text(own.replace("Costs vary.", "Prices differ.").replace(
            "    - how much does it cost\n", "    - how much does it cost\n    - what is the price of a cycle\n", 1),
            encoding="utf-8")
        bump(path)
        assert source.current().intents["costs"].reply.startswith("Prices differ.")
        assert [ref() for ref in gone] == [None, None, None, None]
    finally:
        gc.enable()


def test_an_edit_of_replies_alone_keeps_the_learnt_matcher(tmp_path):
    """Only the phrases and the language resources train the matcher: a reworded reply goes live without training."""
    path = tmp_path / "responses.yaml"
    path.write_text(fixture_text(), encoding="utf-8")
    source = KnowledgeFile(str(path), check_every=0)
    first = source.current()
    path.write_text(fixture_text().replace("Costs vary.", "Prices differ."), encoding="utf-8")
    bump(path)
    second = source.current()
    assert second.intents["costs"].reply.startswith("Prices differ.") and second.matcher is first.matcher


def bump(path):
    """Make sure the modification time moves even on coarse file systems."""
    stamp = time.time() + 5
    os.utime(path, (stamp, stamp))


def test_the_handoff_messages_carry_their_placeholders(real):
    assert "{coordinator}" in real.message("handoff_claimed")
    assert "{opens}" in real.message("handoff_after_hours")
    assert all("{console}" in real.message(name) and "{number}" in real.message(name)
               for name in ("alert_new", "alert_urgent", "alert_again"))
    assert "CANCEL" in real.intents["human_handoff"].reply and "CANCEL" in real.message("handoff_waiting")
    assert real.command("YES") == "yes" and real.command("back to bot") == "cancel"
    assert real.coordinator_replies and all(len(text) < 1000 for _, texts in real.coordinator_replies
                                            for text in texts.values())


def test_the_hindi_handoff_notices_and_canned_replies_keep_what_the_english_say(real):
    for name in HANDOFF_MESSAGES:
        english, hindi = real.message(name), real.message(name, "hi")
        assert hindi != english and set(re.findall(r"{\w+}", hindi)) == set(re.findall(r"{\w+}", english)), name
    assert "CANCEL" in real.message("handoff_waiting", "hi") and "*YES*" in real.message("handoff_offer", "hi")
    assert [title for title, texts in real.coordinator_replies if "hi" not in texts] == []


def test_commands_and_canned_replies_are_checked(tmp_path):
    text = fixture_text().replace("  cancel: [cancel, back to bot]\n", "  cancle: [cancel]\n", 1)
    message = broken(tmp_path, text)
    assert "commands.cancle: unknown field 'cancle'; did you mean 'cancel'?" in message
    assert "required command 'cancel' is missing" in message
    text = fixture_text().replace("- title: Call back\n  text: We will call you back today.\n", "- text: no title\n", 1)
    assert "coordinator_replies.1: needs a title" in broken(tmp_path, text)
    text = fixture_text().replace("  text: We will call you back today.\n", "  text:\n    hi: हम आज फ़ोन करेंगे।\n", 1)
    assert "coordinator_replies.1.text: needs the English text under 'en'" in broken(tmp_path, text)


def test_a_canned_reply_is_english_text_or_one_text_per_language(tmp_path):
    path = tmp_path / "responses.yaml"
    path.write_text(fixture_text().replace(
        "  text: We will call you back today.\n",
        "  text:\n    en: We will call you back today.\n    hi: हम आज ही आपको फ़ोन करेंगे।\n", 1), encoding="utf-8")
    assert knowledge.load(path).coordinator_replies == (
        ("Greeting", {"en": "Hello, I am your coordinator."}),
        ("Call back", {"en": "We will call you back today.", "hi": "हम आज ही आपको फ़ोन करेंगे।"}))


def language(tmp_path, **files):
    """A folder of language files in tmp_path: `reading="ignore: [the]\n"` writes reading.yaml."""
    folder = tmp_path / "language"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return str(folder)


def refused(tmp_path, **files):
    """The fixture knowledge read with these language files: the KnowledgeError's text."""
    with pytest.raises(KnowledgeError) as error:
        knowledge.load(FIXTURE_KNOWLEDGE, language=language(tmp_path, **files))
    return str(error.value)


def test_language_files_are_optional_and_loaded(tmp_path):
    folder = language(tmp_path, synonyms="synonyms:\n  costs: [kharcha, paisa]\n", reading="strict:\n  eligibility: 20\n")
    loaded = knowledge.load(FIXTURE_KNOWLEDGE, language=folder)
    assert loaded.matcher.match("kharcha").intent == "costs"
    assert loaded.matcher.rules.strict == {"eligibility": 20.0}
    assert knowledge.load(FIXTURE_KNOWLEDGE, language="").matcher.rules.synonyms == {}


def test_the_knowledge_file_keeps_no_matching_section(tmp_path):
    message = broken(tmp_path, fixture_text() + "matching:\n  ignore: [the]\n")
    assert "matching: how patients' words are read is no longer part of this file: it lives in language/" in message


def test_a_word_listed_under_two_synonyms_is_named(tmp_path):
    message = refused(tmp_path, synonyms="synonyms:\n  cost: [kharcha]\n  money: [paise, kharchaa]\n")
    assert "synonyms.yaml:3: synonyms.money: 'kharchaa' reads as 'cost' too" in message


def test_an_ignored_word_that_carries_a_meaning_is_named_across_files(tmp_path):
    message = refused(tmp_path, synonyms="synonyms:\n  hello: [hi, namaste]\n", reading="# cues\nignore: [the, hi]\n")
    assert "reading.yaml:2: ignore.1: 'hi' is ignored but also read as 'hello'" in message


def test_a_strict_topic_that_does_not_exist_is_named(tmp_path):
    message = refused(tmp_path, reading="strict:\n  eligibilty: 15\n")
    assert "reading.yaml:2: strict.eligibilty: intent 'eligibilty' does not exist (did you mean 'eligibility'?)" in message


def test_true_and_false_need_quotes_while_yes_and_no_are_words(tmp_path):
    message = refused(tmp_path, reading="ignore: [the, true]\n")
    assert "ignore.1: YAML reads true/false as a yes/no value: put the word in quotes" in message
    folder = language(tmp_path, reading="ignore: [the, no]\n")
    assert "no" in knowledge.load(FIXTURE_KNOWLEDGE, language=folder).matcher.rules.ignore


def test_a_reply_that_is_not_an_answer_must_give_the_emergency_numbers(tmp_path):
    fixture = FIXTURE_KNOWLEDGE.read_text(encoding="utf-8")
    path = tmp_path / "responses.yaml"
    path.write_text(fixture.replace("  empty: Please type your question. In an emergency call {emergency_numbers}.",
                                    "  empty: Please type your question."), encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"messages.empty.en: has no \{emergency_numbers\}: it is not an answer"):
        knowledge.load(path)


def test_the_emergency_reply_must_say_when_a_person_will_answer(tmp_path):
    fixture = FIXTURE_KNOWLEDGE.read_text(encoding="utf-8")
    path = tmp_path / "responses.yaml"
    path.write_text(fixture.replace("      hi: अभी {emergency_numbers} पर फ़ोन करें। {when_answered}",
                                    "      hi: अभी {emergency_numbers} पर फ़ोन करें।"), encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"intents.emergency.reply.hi: has no \{when_answered\}"):
        knowledge.load(path)


def test_an_unknown_language_field_is_named(tmp_path):
    message = refused(tmp_path, synonyms="synonym:\n  cost: [kharcha]\n")
    assert "synonyms.yaml:1: synonym: unknown field 'synonym'; did you mean 'synonyms'?" in message


def test_ignored_entries_are_single_words(tmp_path):
    message = refused(tmp_path, reading="ignore: [the, someone else]\n")
    assert "ignore.1: 'someone else': list single words here" in message


def test_an_edit_of_a_language_file_is_taken_like_one_of_the_knowledge(tmp_path):
    folder = language(tmp_path, synonyms="synonyms:\n  costs: [kharcha]\n")
    source = KnowledgeFile(str(FIXTURE_KNOWLEDGE), check_every=0, language=folder)
    assert source.current().matcher.rules.synonyms == {"costs": ("kharcha",)}
    language(tmp_path, synonyms="synonyms:\n  costs: [kharcha, paisa]\n")
    bump(tmp_path / "language" / "synonyms.yaml")
    assert source.current().matcher.rules.synonyms == {"costs": ("kharcha", "paisa")}


def test_an_edit_is_learnt_in_the_background_while_the_last_version_answers(tmp_path):
    path = tmp_path / "responses.yaml"
    text = REAL.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    source = KnowledgeFile(str(path), check_every=0, background=True)
    first = source.current()
    # a new phrase: the matcher learns again, which takes seconds on the real file
    path.write_text(text.replace("      - side effects\n", "      - side effects\n      - what harm does the drip do\n", 1),
                    encoding="utf-8")
    bump(path)
    started = time.monotonic()
    assert source.current() is first and time.monotonic() - started < 0.5
    wait_for(lambda: source.current() is not first, "the edit, learnt in the background")
    assert "what harm does the drip do" in source.current().intents["side_effects"].phrases
