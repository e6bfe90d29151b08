"""`python -m bot check`: each kind of broken file named with its line, warnings, review, expectations, exit codes."""

import datetime
import os
import subprocess
import sys

import pytest

from bot import checks, knowledge
from bot.config import ROOT, Settings
from intents import HANDLERS
from tests.conftest import FIXTURE_KNOWLEDGE

SETTINGS = Settings.from_env({})
FIXTURE = FIXTURE_KNOWLEDGE.read_text(encoding="utf-8")


def edited(tmp_path, *edits):
    """The fixture knowledge with (old, new) replacements applied once each, written to tmp_path/responses.yaml."""
    text = FIXTURE
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "responses.yaml"
    path.write_text(text, encoding="utf-8")
    return path, text


def line_of(text, lines):
    """The number of the first line of the first place where `lines` (one or more whole lines) are written."""
    return text[:text.index("\n" + lines + "\n") + 1].count("\n") + 1


def findings(path, severity="error", **kwargs):
    report = checks.run(path, SETTINGS, handled=HANDLERS, **kwargs)
    return [str(f) for f in report.findings if f.severity == severity]


def cli(*args):
    env = {**os.environ, "KNOWLEDGE_PATH": str(FIXTURE_KNOWLEDGE)}
    return subprocess.run([sys.executable, "-m", "bot", "check", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


# One broken file per kind of error: (edits, the line to point at, the field and message expected there).
# {after_title} and {price} stand for the line after the costs intent's title and the line of its phrase "price".
BROKEN = {
    "yaml syntax": ([("    title: Costs\n", "    title: Costs\n    phrases: [how much does it cost\n")],
                    "    phrases:\n    - how much does it cost",
                    "YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence, which starts on line {after_title})"),
    "unknown key": ([("    reply: Costs vary.", "    replys: Costs vary.")],
                    "    replys: Costs vary. Ask the care team for an estimate.",
                    "intents.costs.replys: unknown field 'replys'; did you mean 'reply'?"),
    "missing intent": ([("  thanks_goodbye:\n", "  thanks_goodby:\n")], "intents:",
                       "intents: required intent 'thanks_goodbye' is missing"),
    "reply too long": ([("    reply: Costs vary.", "    reply: " + "Costs vary a lot. " * 60)],
                       "    reply: " + "Costs vary a lot. " * 60 + " Ask the care team for an estimate.",
                       "intents.costs.reply: is 1115 characters; WhatsApp messages here must stay under 1000"),
    "empty phrase list": ([("    phrases:\n    - how much does it cost\n    - price\n", "    phrases: []\n")],
                          "    phrases: []", "intents.costs.phrases: needs at least one example phrase"),
    "menu to nowhere": ([("- costs\n", "- cost\n")], "- cost",
                        "menu.2: points at intent 'cost', which does not exist (did you mean 'costs'?)"),
    "follow-up to nowhere": ([("    - manage_side_effects\n", "    - manage_side_efects\n")], "    - manage_side_efects",
                             "intents.side_effects.followups.0: points at intent 'manage_side_efects', which does not "
                             "exist (did you mean 'manage_side_effects'?)"),
    "handler without intent": ([("  opt_out:\n", "  opt_outs:\n")], "intents:",
                               "intents: intents/ has a handler for 'opt_out', but there is no intent 'opt_out': "
                               "put the intent back (a developer removes handlers)"),
    "phrase under two intents": ([("    - claim denied\n", "    - claim denied\n    - Price?\n")], "    - Price?",
                                 "intents.insurance.phrases.2: 'Price?' is also a phrase of 'costs' (line {price}); "
                                 "keep it under one intent"),
    "phrase twice in one intent": ([("    - price\n", "    - price\n    - PRICE!\n")], "    - PRICE!",
                                   "intents.costs.phrases.2: 'PRICE!' is already a phrase of this intent (line {price}); keep one"),
    "impossible review date": ([("    title: Costs\n", "    title: Costs\n    reviewed_by: Dr Rao\n    reviewed_on: 2025-02-30\n")],
                               "    reviewed_on: 2025-02-30",
                               "intents.costs.reviewed_on: '2025-02-30' is not a date written YYYY-MM-DD (e.g. 2025-06-01); "
                               "leave it null until the review is done"),
}


@pytest.mark.parametrize("kind", BROKEN)
def test_a_broken_file_is_named_with_its_line_and_field(tmp_path, kind):
    edits, line, expected = BROKEN[kind]
    path, text = edited(tmp_path, *edits)
    expected = expected.format(after_title=line_of(FIXTURE, "    title: Costs") + 1, price=line_of(FIXTURE, "    - price"))
    assert f"error: {path}:{line_of(text, line)}: {expected}" in findings(path)


def test_the_command_prints_the_errors_and_exits_1(tmp_path):
    path, text = edited(tmp_path, ("    reply: Costs vary.", "    replys: Costs vary."))
    result = cli(str(path))
    assert result.returncode == 1
    line = line_of(text, "    replys: Costs vary. Ask the care team for an estimate.")
    assert f"error: {path}:{line}: intents.costs.replys: unknown field 'replys'; did you mean 'reply'?" in result.stdout.splitlines()
    assert result.stdout.splitlines()[-1].startswith("2 errors, ")  # and: the reply is missing


def test_warnings_alone_exit_0(tmp_path):
    result = cli()  # the fixture, from KNOWLEDGE_PATH, with its expectations beside it
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1].endswith("; 4 of 4 expectations hold")
    assert result.stdout.splitlines()[-1].startswith("0 errors, ")


def test_a_phrase_closer_to_another_intent_is_found_through_the_matcher(tmp_path):
    path, text = edited(tmp_path, ("    - claim denied\n", "    - claim denied\n    - how much does the treatment cost\n"))
    line = line_of(text, "    - how much does the treatment cost")
    warnings = findings(path, "warning", only=(checks.closer_to_another_intent,))
    warning = next(w for w in warnings if f":{line}: " in w)
    assert warning.startswith(f"warning: {path}:{line}: intents.insurance.phrases.2: 'how much does the treatment cost' "
                              "sits closer to 'costs' than to its own intent: without this exact phrase the matcher "
                              "answers it as 'costs'")
    # Left out of its intent, a phrase that still reaches that intent is no warning.
    assert not any("'price' sits closer" in w for w in warnings)


def test_an_emergency_phrase_the_red_flags_miss_is_loud(tmp_path):
    path, _ = edited(tmp_path, ("    - chest pain now\n", "    - chest pain now\n    - help paying for the treatment\n"))
    warnings = findings(path, "warning", only=(checks.red_flags,))
    assert any(w.startswith("WARNING (patient safety): ") and "'help paying for the treatment' is an emergency phrase, "
               "but the red flags (safety.yaml) do not open the emergency path for it" in w for w in warnings)


def test_unreviewed_red_flags_are_loud(tmp_path):
    path, _ = edited(tmp_path)
    assert any(w.startswith("WARNING (patient safety): ") and "safety.yaml" in w and "RED FLAGS: not approved by a "
               "clinician" in w for w in findings(path, "warning", only=(checks.red_flags,)))


def test_intents_without_hinglish_phrases_are_named(tmp_path):
    path, text = edited(tmp_path)
    warnings = findings(path, "warning", only=(checks.without_hinglish,))
    costs = f"warning: {path}:{line_of(text, '  costs:') + 2}: intents.costs.phrases: has no Hinglish phrase"
    assert any(w.startswith(costs) for w in warnings)
    # "side effect kya hai" is Hinglish; "नमस्ते" is Hindi, not Hinglish, and "namaste" is not a Hinglish word here.
    assert not any("intents.side_effects.phrases: has no Hinglish" in w for w in warnings)
    assert any("intents.greeting.phrases: has no Hinglish" in w for w in warnings)


def test_missing_stale_and_emergency_reviews(tmp_path):
    fresh = (datetime.date.today() - datetime.timedelta(days=10)).isoformat()
    path, text = edited(
        tmp_path,
        ("    title: Costs\n", f"    title: Costs\n    source: price list 2025\n    reviewed_by: Dr Rao\n    reviewed_on: {fresh}\n"),
        ("  insurance:\n", "  insurance:\n    source: insurers' pages\n    reviewed_by: Dr Rao\n    reviewed_on: 2020-01-01\n"))
    warnings = findings(path, "warning", only=(checks.review,))
    assert not any("intents.costs.re" in w or "intents.costs.source" in w for w in warnings)
    stale = (datetime.date.today() - datetime.date(2020, 1, 1)).days
    assert (f"warning: {path}:{line_of(text, '    reviewed_on: 2020-01-01')}: intents.insurance.reviewed_on: the review is "
            f"{stale} days old (older than REVIEW_MAX_DAYS, 365): ask Dr Rao or another clinician to review the reply again."
            in warnings)
    assert (f"warning: {path}:{line_of(text, '  duration:')}: intents.duration.source: says nothing about where its facts "
            "come from; fill in source" in warnings)
    emergency = next(w for w in warnings if "intents.emergency.reviewed_by" in w)
    assert emergency.startswith(f"WARNING (patient safety): {path}:{line_of(text, '  emergency:')}: intents.emergency."
                                "reviewed_by: EMERGENCY WORDING: not reviewed by a clinician")


def test_a_reviewed_emergency_wording_is_quiet(tmp_path):
    today = datetime.date.today().isoformat()
    path, _ = edited(tmp_path, ("  emergency:\n", f"  emergency:\n    reviewed_by: Dr Rao\n    reviewed_on: {today}\n"))
    assert not any("EMERGENCY WORDING" in w for w in findings(path, "warning", only=(checks.review,)))


def test_an_expectation_that_no_longer_holds_is_an_error(tmp_path):
    path, _ = edited(tmp_path)
    expectations = tmp_path / "expectations.yaml"
    expectations.write_text("costs:\n  - how much will it cost\n  - does insurance cover it\n"
                            "emergency:\n  - what are the side effects\nfallback:\n  - how much does it cost\n"
                            "cost:\n  - price please\n", encoding="utf-8")
    report = checks.run(path, SETTINGS, handled=HANDLERS, only=(checks.expectations,))
    errors = [str(f) for f in report.findings if f.severity == "error"]
    score = knowledge.load(path).matcher.match("does insurance cover it").score
    assert f"error: {expectations}:3: costs.1: 'does insurance cover it' should reach 'costs' but is answered as 'insurance' " \
           f"(score {score:.0f}). Add phrases like it to 'costs', or find the phrase of 'insurance' that draws it." in errors
    assert any(e.startswith(f"ERROR (patient safety): {expectations}:5: emergency.0: 'what are the side effects' should "
                            "reach 'emergency' but is answered as 'side_effects'") and "would not get the emergency advice" in e
               for e in errors)
    assert any(e.startswith(f"error: {expectations}:7: fallback.0: 'how much does it cost' should get the fallback, "
                            "but is answered as 'costs' (score ") for e in errors)
    assert f"error: {expectations}:8: cost: 'cost' is not an intent of responses.yaml (did you mean 'costs'?)" in errors
    assert (report.expected, report.expected_failed) == (4, 3)


def test_an_expectations_file_that_is_not_yaml_is_named(tmp_path):
    path, _ = edited(tmp_path)
    (tmp_path / "expectations.yaml").write_text("costs:\n  - [price\n", encoding="utf-8")
    assert any(e.startswith(f"error: {tmp_path / 'expectations.yaml'}:3: YAML syntax error")
               for e in findings(path, only=(checks.expectations,)))


def test_a_missing_expectations_file_is_a_warning_unless_it_was_asked_for(tmp_path):
    path, _ = edited(tmp_path)
    assert f"warning: {tmp_path / 'expectations.yaml'}: no expectations file: nothing checks that known phrases " \
           "still reach their intent" in findings(path, "warning", only=(checks.expectations,))
    missing = tmp_path / "elsewhere.yaml"
    assert any(e.startswith(f"error: {missing}: no expectations file") for e in findings(path, expectations=missing, only=(checks.expectations,)))


def test_the_shipped_file_passes_and_its_unreviewed_emergency_wording_stays_visible():
    """CI runs this: the real responses.yaml has no errors and every expectation holds, through the real matcher."""
    report = checks.run(ROOT / "responses.yaml", SETTINGS, handled=HANDLERS)
    assert [str(f) for f in report.errors] == []
    assert report.expected >= 60 and report.expected_failed == 0
    assert any(f.loud and "EMERGENCY WORDING: not reviewed by a clinician" in str(f) for f in report.warnings)
