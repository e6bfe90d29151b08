"""Unanswered questions acted on in the console: added to a topic after seeing the effect, marked out of scope, or
dismissed; every change checked like `python -m bot check`, written to the file and kept as a version."""

import re
from pathlib import Path

import pytest

from bot.config import ROOT
from bot.console import hash_password
from tests.conftest import WhatsApp, editable_knowledge, wait_for
from tests.test_console import PASSWORD, log_in, token

OTHER = "whatsapp:+919811122233"


@pytest.fixture
def test_config(test_config, tmp_path):
    """The app on a copy of the fixture knowledge, and a language folder of its own holding out_of_scope.yaml."""
    language = tmp_path / "language"
    language.mkdir()
    (language / "out_of_scope.yaml").write_text("# examples we do not answer\nout_of_scope:\n  - weather forecast\n",
                                                encoding="utf-8")
    return {**test_config, "KNOWLEDGE_PATH": editable_knowledge(tmp_path), "LANGUAGE_DIR": str(language)}


@pytest.fixture
def accounts(store):
    store.add_coordinator("Olga Ops", hash_password(PASSWORD), ops=True)
    store.add_coordinator("Priya Sharma", hash_password(PASSWORD))


@pytest.fixture
def ops(app, accounts):
    return log_in(app, name="Olga Ops")[0]


def group_form(page, index=0):
    """(question ids, wordings) of the n-th group's form on the unanswered page."""
    forms = page.split('<form method="post" class="group-actions"')[1:]
    ids = re.findall(r'name="id" value="([^"]+)"', forms[index])
    wordings = re.findall(r'name="phrase" value="([^"]+)"', forms[index])
    return ids, wordings


def submit(client, path, follow_redirects=False, **values):
    """A console form sent as the browser sends it: with the page's CSRF token, a list for each repeated name."""
    return client.post(path, data={"csrf_token": token(client, "/console/"), **values}, follow_redirects=follow_redirects)


def test_a_question_added_to_a_topic_is_answered_and_leaves_the_list(app, ops):
    path = Path(app.config["SETTINGS"].KNOWLEDGE_PATH)
    before = path.read_text(encoding="utf-8")
    WhatsApp(app.test_client()).send("can my mother eat mangoes")
    page = ops.get("/console/ops/unanswered").get_data(as_text=True)
    ids, wordings = group_form(page)
    assert wordings == ["can my mother eat mangoes"]
    shown = submit(ops, "/console/ops/unanswered/propose", action="add", intent="nutrition", phrase=wordings, id=ids)
    text = shown.get_data(as_text=True)
    assert shown.status_code == 200 and "Add 1 wording to “Nutrition”" in text and "No other test question changes answer" in text
    based_on = re.search(r'name="based_on" value="([^"]+)"', text)[1]
    done = submit(ops, "/console/ops/unanswered/publish", action="add", intent="nutrition", phrase=wordings,
                   id=ids, based_on=based_on, follow_redirects=True)
    assert "Added 1 wording to “Nutrition”" in done.get_data(as_text=True)
    assert 'id="unanswered-empty"' in done.get_data(as_text=True)
    # The file gains one line under nutrition's phrases; every other line is as it was.
    after = path.read_text(encoding="utf-8")
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    assert added == ["    - can my mother eat mangoes"] and len(after.splitlines()) == len(before.splitlines()) + 1
    served = app.extensions["assistant"].knowledge_file
    wait_for(lambda: served.current().match("can my mother eat mangoes").intent == "nutrition", "the edit to be served")
    assert WhatsApp(app.test_client(), sender=OTHER).send("can my mother eat mangoes")[0].startswith("A balanced diet.")
    [version] = [v for v in app.extensions["assistant"].store.versions("responses.yaml") if v["by"] == "Olga Ops"]
    assert version["summary"] == "added 1 phrase(s) to nutrition from Unanswered"


def test_the_effect_names_the_other_questions_that_would_change_answer(app, ops):
    WhatsApp(app.test_client()).send("is mango allowed")
    shown = submit(ops, "/console/ops/unanswered/propose", action="add", intent="nutrition",
                   phrase=["is mango allowed during treatment"], id=[])
    text = shown.get_data(as_text=True)
    assert 'id="effect"' in text, text[text.find("<main>"):]
    row = re.search(r"<tr><td>is mango allowed</td><td>([^<]+)</td><td>([^<]+)</td></tr>", text)
    assert row and row.groups() == ("not understood (fallback)", "Nutrition (nutrition)")


def test_an_edit_that_breaks_an_expectation_is_refused_and_changes_nothing(app, ops):
    path = Path(app.config["SETTINGS"].KNOWLEDGE_PATH)
    before = path.read_bytes()
    WhatsApp(app.test_client()).send("what is the capital of peru")
    page = ops.get("/console/ops/unanswered").get_data(as_text=True)
    ids, wordings = group_form(page)
    shown = submit(ops, "/console/ops/unanswered/propose", action="add", intent="costs", phrase=wordings, id=ids)
    text = shown.get_data(as_text=True)
    assert 'id="refusals"' in text and "should get the fallback, but is answered as &#39;costs&#39;" in text
    assert "Publish</button>" not in text
    # Sent anyway (an old page, a forged form): refused the same way.
    done = submit(ops, "/console/ops/unanswered/publish", action="add", intent="costs", phrase=wordings, id=ids,
                   based_on="x", follow_redirects=True)
    assert "Nothing was published" in done.get_data(as_text=True)
    assert path.read_bytes() == before and "what is the capital of peru" in done.get_data(as_text=True)


def test_a_file_changed_since_the_effect_was_shown_is_not_overwritten(app, ops):
    path = Path(app.config["SETTINGS"].KNOWLEDGE_PATH)
    WhatsApp(app.test_client()).send("can my mother eat mangoes")
    ids, wordings = group_form(ops.get("/console/ops/unanswered").get_data(as_text=True))
    text = submit(ops, "/console/ops/unanswered/propose", action="add", intent="nutrition", phrase=wordings,
                   id=ids).get_data(as_text=True)
    based_on = re.search(r'name="based_on" value="([^"]+)"', text)[1]
    changed = path.read_text(encoding="utf-8").replace("A balanced diet.", "Eat well.")
    path.write_text(changed, encoding="utf-8")
    done = submit(ops, "/console/ops/unanswered/publish", action="add", intent="nutrition", phrase=wordings,
                   id=ids, based_on=based_on, follow_redirects=True)
    assert "changed since you looked at the effect" in done.get_data(as_text=True)
    assert path.read_text(encoding="utf-8") == changed


def test_marked_out_of_scope_becomes_an_example_and_leaves_the_list(app, ops):
    language = Path(app.config["SETTINGS"].LANGUAGE_DIR) / "out_of_scope.yaml"
    WhatsApp(app.test_client()).send("cricket score today")
    ids, wordings = group_form(ops.get("/console/ops/unanswered").get_data(as_text=True))
    text = submit(ops, "/console/ops/unanswered/propose", action="out_of_scope", phrase=wordings,
                   id=ids).get_data(as_text=True)
    assert "Mark 1 wording out of scope" in text and "No other test question changes answer" in text
    based_on = re.search(r'name="based_on" value="([^"]+)"', text)[1]
    done = submit(ops, "/console/ops/unanswered/publish", action="out_of_scope", phrase=wordings, id=ids,
                   based_on=based_on, follow_redirects=True)
    assert "Added 1 wording to the out-of-scope examples" in done.get_data(as_text=True)
    assert language.read_text(encoding="utf-8") == (
        "# examples we do not answer\nout_of_scope:\n  - weather forecast\n  - cricket score today\n")
    assert 'id="unanswered-empty"' in done.get_data(as_text=True)
    assert [v["by"] for v in app.extensions["assistant"].store.versions("language/out_of_scope.yaml")] == [
        "Olga Ops", "(the file as it was)"]


def test_dismissed_questions_leave_the_list_and_the_knowledge_is_unchanged(app, ops):
    path = Path(app.config["SETTINGS"].KNOWLEDGE_PATH)
    before = path.read_bytes()
    patient = WhatsApp(app.test_client())
    patient.send("what is the capital of peru")
    WhatsApp(app.test_client(), sender=OTHER).send("can my mother eat mangoes")
    page = ops.get("/console/ops/unanswered").get_data(as_text=True)
    ids, _ = group_form(page)
    done = submit(ops, "/console/ops/unanswered/dismiss", id=ids, follow_redirects=True).get_data(as_text=True)
    assert "Dismissed 1 question" in done and 'id="unanswered-total">1<' in done
    assert path.read_bytes() == before


def test_a_coordinator_without_the_ops_right_cannot_act(app, accounts):
    coordinator = log_in(app, name="Priya Sharma")[0]
    for action in ("propose", "publish", "dismiss"):
        assert submit(coordinator, f"/console/ops/unanswered/{action}", action="add").status_code == 403


def test_an_out_of_scope_group_is_not_suggested_for_a_topic(app, ops):
    WhatsApp(app.test_client()).send("cricket score today")
    page = ops.get("/console/ops/unanswered").get_data(as_text=True)
    assert "probably out of scope" in page and " selected>" not in page


def test_the_project_language_folder_is_not_touched_by_the_tests(app):
    assert Path(app.config["SETTINGS"].LANGUAGE_DIR) != ROOT / "language"
