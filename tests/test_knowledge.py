"""The knowledge file: the real one is valid and complete; broken edits are named and refused."""

import os
import time

import pytest

from bot import knowledge
from bot.config import ROOT
from bot.knowledge import REQUIRED_INTENTS, KnowledgeError, KnowledgeFile
from intents import HANDLERS
from tests.conftest import FIXTURE_KNOWLEDGE

REAL = ROOT / "responses.yaml"


@pytest.fixture(scope="module")
def real():
    return knowledge.load(REAL)


def test_the_real_file_loads_with_every_required_intent(real):
    assert set(REQUIRED_INTENTS) <= set(real.intents)


def test_every_intent_has_at_least_ten_example_phrases(real):
    thin = {i.id: len(i.phrases) for i in real.intents.values() if len(i.phrases) < 10}
    assert thin == {}


def test_every_reply_fits_in_one_whatsapp_message(real):
    assert all(len(i.reply) < 1000 for i in real.intents.values())
    assert all(len(text) < 1000 for text in real.messages.values())


def test_medical_replies_point_to_the_care_team(real):
    non_medical = {"greeting", "thanks_goodbye", "opt_out", "human_handoff", "emergency",
                   "costs", "insurance", "financial_assistance", "support_groups"}
    missing = [i.id for i in real.intents.values() if i.id not in non_medical and "care team" not in i.reply.lower()]
    assert missing == []


def test_the_greeting_shows_the_menu_and_the_emergency_reply_the_numbers(real):
    assert "{menu}" in real.intents["greeting"].reply
    assert "{emergency_numbers}" in real.intents["emergency"].reply


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


def bump(path):
    """Make sure the modification time moves even on coarse file systems."""
    stamp = time.time() + 5
    os.utime(path, (stamp, stamp))


def with_matching(section):
    return fixture_text() + "matching:\n" + section


def test_matching_rules_are_optional_and_loaded(tmp_path):
    path = tmp_path / "responses.yaml"
    path.write_text(with_matching("  synonyms:\n    costs: [kharcha, paisa]\n  strict:\n    eligibility: 20\n"))
    loaded = knowledge.load(path)
    assert loaded.matcher.match("kharcha").intent == "costs"
    assert loaded.matcher.rules.strict == {"eligibility": 20.0}


def test_a_word_listed_under_two_synonyms_is_named(tmp_path):
    message = broken(tmp_path, with_matching("  synonyms:\n    cost: [kharcha]\n    money: [paise, kharchaa]\n"))
    assert "matching.synonyms.money: 'kharchaa' reads as 'cost' too" in message


def test_an_ignored_word_that_carries_a_meaning_is_named(tmp_path):
    text = with_matching("  synonyms:\n    hello: [hi, namaste]\n  ignore: [the, hi]\n")
    line = text.splitlines().index("  ignore: [the, hi]") + 1
    assert f"responses.yaml:{line}: matching.ignore.1: 'hi' is ignored but also read as 'hello'" in broken(tmp_path, text)


def test_a_strict_topic_that_does_not_exist_is_named(tmp_path):
    message = broken(tmp_path, with_matching("  strict:\n    eligibilty: 15\n"))
    assert "matching.strict.eligibilty: intent 'eligibilty' does not exist (did you mean 'eligibility'?)" in message


def test_yes_and_no_need_quotes(tmp_path):
    message = broken(tmp_path, with_matching("  ignore: [the, no]\n"))
    assert "matching.ignore.1: YAML reads yes/no/on/off as true/false: put the word in quotes" in message


def test_an_emergency_sign_with_an_empty_part_is_named(tmp_path):
    message = broken(tmp_path, with_matching('  emergency_signs:\n    - "chest ; "\n'))
    assert "matching.emergency_signs.0: each ;-separated part needs at least one word" in message


def test_an_unknown_matching_field_is_named(tmp_path):
    message = broken(tmp_path, with_matching("  synonym:\n    cost: [kharcha]\n"))
    assert "matching.synonym: unknown field 'synonym'; did you mean 'synonyms'?" in message


def test_ignored_entries_are_single_words(tmp_path):
    message = broken(tmp_path, with_matching("  ignore: [the, someone else]\n"))
    assert "matching.ignore.1: 'someone else': list single words here" in message
