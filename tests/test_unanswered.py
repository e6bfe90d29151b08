"""Questions the assistant could not answer: kept masked and for the retention time, erased on request,
grouped with the nearest intent and a snippet that works when pasted, listed by `python -m bot unanswered`."""

import os
import re
import subprocess
import sys
import uuid

import redis

from bot import knowledge, unanswered
from bot.config import ROOT
from bot.store import Store
from tests.conftest import FIXTURE_KNOWLEDGE, PATIENT, WhatsApp

OTHER = "whatsapp:+919811122233"


def current(app):
    return app.extensions["assistant"].knowledge_file.current()


def test_fallback_questions_are_kept_with_masked_numbers_and_answered_ones_are_not(app, whatsapp, store):
    other = WhatsApp(app.test_client(), sender=OTHER)
    whatsapp.send("What is the capital of Peru?")
    other.send("what is the capital of peru")
    whatsapp.send("how much does it cost")
    # The second miss in a row offers a coordinator instead of the fallback: it is kept as well.
    offer = other.send("is parking available at the hospital")
    assert offer == ["Shall I ask a coordinator? Reply YES. In an emergency call 112 (emergency) or 108 (ambulance)."]
    entries = store.unanswered()
    assert [(e["text"], e["number"]) for e in entries] == [
        ("is parking available at the hospital", "whatsapp:+*********233"),
        ("what is the capital of peru", "whatsapp:+*********233"),
        ("What is the capital of Peru?", "whatsapp:+*********678"),
    ]
    kept = [store.redis.get(key) for key in store.redis.scan_iter(f"{store.prefix}question:*")]
    assert len(kept) == 3 and not any("9812345678" in item or "9811122233" in item for item in kept)
    retention = app.config["SETTINGS"].retention_seconds
    assert all(0 < store.redis.ttl(key) <= retention for key in store.redis.scan_iter(f"{store.prefix}question:*"))


def test_a_phone_number_written_in_a_question_is_hidden(whatsapp, store):
    whatsapp.send("please call me on 98123 45678 about parking")
    assert [e["text"] for e in store.unanswered()] == ["please call me on [number] about parking"]


def test_delete_my_data_erases_the_patients_questions_only(app, whatsapp, store):
    other = WhatsApp(app.test_client(), sender=OTHER)
    whatsapp.send("is parking available at the hospital")
    other.send("what is the capital of peru")
    whatsapp.send("delete my data")
    assert whatsapp.send("yes") == ["Your data is deleted."]
    assert [e["number"] for e in store.unanswered()] == ["whatsapp:+*********233"]
    assert list(store.redis.scan_iter(f"{store.prefix}*{PATIENT}*")) == []
    assert len(list(store.redis.scan_iter(f"{store.prefix}question:*"))) == 1


def test_only_the_newest_questions_are_kept_past_the_limit(redis_url):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    store = Store(client, prefix=f"test:{uuid.uuid4().hex}:", unanswered_limit=3)
    try:
        for n in range(5):
            # A patient's message that got the fallback: its question is written as the turn ends.
            with store.lock(PATIENT, f"SM{n}") as lock:
                lock.conversation.keep_unanswered(f"question {n}")
        assert [e["text"] for e in store.unanswered()] == ["question 4", "question 3", "question 2"]
        assert len(list(client.scan_iter(f"{store.prefix}question:*"))) == 3
    finally:
        client.delete(*list(client.scan_iter(f"{store.prefix}*")) or ["none"])


def test_similar_questions_form_one_group_with_the_nearest_intent(app, whatsapp, store):
    for text in ("What is the capital of Peru?", "what is the capital of peru", "is parking available at the hospital",
                 "what is the  capital of peru"):
        whatsapp.send(text)
    found = unanswered.groups(store.unanswered(), current(app))
    assert [(g.count, g.examples) for g in found] == [
        (3, ["what is the capital of peru"]),
        (1, ["is parking available at the hospital"]),
    ]
    group = found[0]
    assert group.nearest in current(app).intents and group.answered_now is None
    assert group.snippet.startswith(f"# if {group.nearest} answers these, paste after line ")


def test_the_snippet_pasted_where_it_says_makes_the_question_answered(app, whatsapp, store, tmp_path):
    whatsapp.send("can my mother eat mangoes")
    [group] = unanswered.groups(store.unanswered(), current(app))
    line = int(re.search(rf"# if {group.nearest} answers these, paste after line (\d+) \(its last phrase\):", group.snippet)[1])
    lines = FIXTURE_KNOWLEDGE.read_text(encoding="utf-8").splitlines(keepends=True)
    pasted = "".join(lines[:line]) + "".join(group.snippet.splitlines(keepends=True)[1:]) + "".join(lines[line:])
    edited = tmp_path / "responses.yaml"
    edited.write_text(pasted, encoding="utf-8")
    after = knowledge.load(edited)
    assert after.matcher.match("can my mother eat mangoes").intent == group.nearest
    # The page now says the question is answered, and offers nothing more to paste.
    [again] = unanswered.groups(store.unanswered(), after)
    assert again.answered_now == group.nearest and again.snippet == ""


def test_the_command_lists_the_groups(app, whatsapp, store):
    whatsapp.send("is parking available at the hospital")
    whatsapp.send("parking available at hospital?")
    whatsapp.send("can my mother eat mangoes")
    settings = app.config["SETTINGS"]
    env = {**os.environ, "REDIS_URL": settings.REDIS_URL, "KEY_PREFIX": settings.KEY_PREFIX,
           "KNOWLEDGE_PATH": str(FIXTURE_KNOWLEDGE)}
    result = subprocess.run([sys.executable, "-m", "bot", "unanswered"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("3 unanswered questions in the last 90 days, 2 groups\n")
    assert "\n1. 2x, " in out and "\n2. 1x, nearest intent: " in out
    assert "   - parking available at hospital?\n   - is parking available at the hospital\n" in out
    assert "    - can my mother eat mangoes\n" in out  # indented like the fixture's phrases, ready to paste
    assert "9812345678" not in out


def test_a_question_the_assistant_had_to_ask_back_about_is_kept_too(whatsapp, store):
    [reply] = whatsapp.send("side effects or nausea relief")
    assert "Did you mean:\n1. Side effects\n2. Coping" in reply
    assert [e["text"] for e in store.unanswered()] == ["side effects or nausea relief"]
