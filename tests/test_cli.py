"""The command line: match's JSON contract, eval's figures and exit codes, chat in the terminal."""

import json
import os
import subprocess
import sys
import uuid

import pytest
import redis

from bot.config import ROOT
from tests.conftest import FIXTURE_KNOWLEDGE


def run(args, redis_url=None, stdin=None, prefix="test:cli:", **extra_env):
    env = {**os.environ, "KNOWLEDGE_PATH": str(FIXTURE_KNOWLEDGE), **extra_env}
    if redis_url:
        env.update(REDIS_URL=redis_url, KEY_PREFIX=prefix)
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_match_prints_one_json_object_per_text():
    result = run(["match", "how much does it cost", "quantum physics homework"])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(line["text"], line["intent"]) for line in lines] == [
        ("how much does it cost", "costs"), ("quantum physics homework", None)]
    assert all(isinstance(line["score"], (int, float)) for line in lines)
    assert lines[0]["score"] > lines[1]["score"]
    assert {"runner_up", "margin"} <= set(lines[0])


def test_match_reads_standard_input_when_no_text_is_given():
    result = run(["match"], stdin="what are the side effects\nthank you\n")
    assert [json.loads(line)["intent"] for line in result.stdout.splitlines()] == ["side_effects", "thanks_goodbye"]


@pytest.fixture
def labelled(tmp_path):
    path = tmp_path / "labelled.jsonl"
    cases = [
        {"text": "how much does it cost", "intent": "costs", "kind": "plain"},
        {"text": "wat r the side effects", "intent": "side_effects", "kind": "typo"},
        {"text": "unsubscribe me", "intent": "opt_out", "kind": "plain"},
        {"text": "what is the capital of peru", "intent": None, "kind": "out_of_scope"},
    ]
    path.write_text("\n".join(json.dumps(c) for c in cases) + "\n")
    return path


def test_eval_reports_accuracy_rejection_and_recall(labelled):
    result = run(["eval", str(labelled)])
    assert result.returncode == 0, result.stderr
    assert "in-scope accuracy: 100.0% (3/3)" in result.stdout
    assert "null rejection:    100.0% (1/1)" in result.stdout
    assert "typo" in result.stdout and "opt_out" in result.stdout
    assert "emergency recall:  0.0% (0/0), false alarms: 0" in result.stdout


def test_eval_reports_emergency_recall_and_false_alarms(tmp_path):
    path = tmp_path / "emergencies.jsonl"
    cases = [
        {"text": "i cannot breathe", "intent": "emergency", "kind": "plain"},
        {"text": "chest pain now", "intent": "emergency", "kind": "plain"},
        {"text": "how much does it cost", "intent": "costs", "kind": "plain"},
    ]
    path.write_text("\n".join(json.dumps(c) for c in cases) + "\n")
    result = run(["eval", str(path)])
    assert "emergency recall:  100.0% (2/2), false alarms: 0" in result.stdout


def test_eval_fails_below_the_bar_and_lists_the_confusion(labelled, tmp_path):
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text(labelled.read_text() + json.dumps({"text": "how much does it cost", "intent": "insurance", "kind": "plain"}) + "\n")
    result = run(["eval", str(wrong), "--min-accuracy", "0.9"])
    assert result.returncode == 1
    assert "insurance -> costs: 1" in result.stdout
    assert "accuracy 75.0% is below 90%" in result.stderr


def test_chat_answers_in_the_terminal(redis_url):
    # A prefix of its own: runs sharing the Redis server must not share a conversation (or its rate limit).
    prefix = f"test:cli:{uuid.uuid4().hex}:"
    result = run(["chat", "--sender", "terminal:test-chat"], redis_url=redis_url, stdin="hello\n1\n", prefix=prefix)
    client = redis.Redis.from_url(redis_url)
    client.delete(*client.keys(f"{prefix}*") or ["none"])
    assert result.returncode == 0, result.stderr
    assert "Welcome to the test clinic." in result.stdout
    assert "bot> Interleukin therapy uses immune messengers." in result.stdout


def test_chat_keeps_to_a_store_of_its_own_and_logs_to_a_file(redis_url, tmp_path):
    prefix = f"test:cli:{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        tried = run(["chat", "--sender", "terminal:try"], redis_url=redis_url, stdin="agent\n", prefix=prefix,
                    DATA_DIR=str(tmp_path), ON_DUTY_NUMBERS="+919000000002")
        assert tried.returncode == 0 and "coordinator" in tried.stdout.lower()
        # Nothing in the live store: no chat in the coordinators' queue, no alert queued.
        assert [k for k in client.scan_iter(f"{prefix}*") if not k.startswith(f"{prefix}chat:")] == []
        assert tried.stderr == "" and '"event"' not in tried.stdout and (tmp_path / "chat.log").exists()

        live = run(["chat", "--sender", "terminal:try", "--live"], redis_url=redis_url, stdin="agent\n", prefix=prefix,
                   DATA_DIR=str(tmp_path))
        assert live.returncode == 0 and client.zcard(f"{prefix}queue:waiting") == 1
    finally:
        client.delete(*client.keys(f"{prefix}*") or ["none"])


def test_coordinator_add_reads_the_password_from_stdin_and_it_logs_in(redis_url):
    from bot import create_app

    prefix = f"test:{uuid.uuid4().hex}:"
    result = run(["coordinator", "add", "Priya  Sharma"], redis_url=redis_url, stdin="a long enough password\n", prefix=prefix)
    assert result.returncode == 0, result.stderr
    assert "added coordinator Priya Sharma" in result.stdout
    app = create_app({"REDIS_URL": redis_url, "KEY_PREFIX": prefix, "KNOWLEDGE_PATH": str(FIXTURE_KNOWLEDGE),
                      "ENVIRONMENT": "development", "SKIP_SIGNATURE_CHECK": True, "BACKGROUND_WORKER": False})
    store = app.extensions["assistant"].store
    try:
        assert "a long enough password" not in store.coordinator("priya sharma")["password"]
        client = app.test_client()
        page = client.get("/console/login").get_data(as_text=True)
        csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
        response = client.post("/console/login", data={"name": "Priya Sharma", "password": "a long enough password", "csrf_token": csrf})
        assert response.status_code == 302
        again = run(["coordinator", "add", "Priya Sharma"], redis_url=redis_url, stdin="another long password\n", prefix=prefix)
        assert "updated coordinator" in again.stdout
    finally:
        store.redis.delete(*list(store.redis.scan_iter(f"{prefix}*")) or ["none"])


def test_coordinator_add_refuses_a_short_password(redis_url):
    result = run(["coordinator", "add", "Ravi"], redis_url=redis_url, stdin="short\n", prefix=f"test:{uuid.uuid4().hex}:")
    assert result.returncode == 2
    assert "at least 10 characters" in result.stderr
def test_chat_shows_choices_as_text_even_when_buttons_are_configured(redis_url, twilio_api):
    templates = {"QUICK_REPLY_SIDS": "2=HX" + "2" * 32, "LIST_PICKER_SIDS": "4=HX" + "4" * 32,
                 "TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "token", "TWILIO_API_BASE_URL": twilio_api.url}
    result = run(["chat", "--sender", "terminal:test-buttons"], redis_url=redis_url, stdin="hello\n", **templates)
    client = redis.Redis.from_url(redis_url)
    client.delete(*client.keys("test:cli:*:terminal:test-buttons") or ["none"])
    assert result.returncode == 0, result.stderr
    assert "Topics:\n1. About therapy" in result.stdout
    assert twilio_api.messages == []


def test_coordinator_add_gives_and_keeps_the_operations_role(redis_url):
    prefix = f"test:{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        result = run(["coordinator", "add", "Olga", "--ops"], redis_url=redis_url, stdin="a long enough password\n", prefix=prefix)
        assert "added coordinator Olga (with the operations pages)" in result.stdout, result.stderr
        # A new password alone keeps the role; --no-ops takes it away.
        again = run(["coordinator", "add", "Olga"], redis_url=redis_url, stdin="another long password\n", prefix=prefix)
        assert "updated coordinator Olga (with the operations pages)" in again.stdout
        removed = run(["coordinator", "add", "Olga", "--no-ops"], redis_url=redis_url, stdin="another long password\n", prefix=prefix)
        assert "updated coordinator Olga (without the operations pages)" in removed.stdout
        assert json.loads(client.hget(f"{prefix}coordinators", "olga"))["ops"] is False
    finally:
        client.delete(*list(client.scan_iter(f"{prefix}*")) or ["none"])


def test_coordinator_add_gives_the_clinician_role(redis_url):
    prefix = f"test:{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        result = run(["coordinator", "add", "Meera Rao", "--clinician"], redis_url=redis_url, stdin="a long enough password\n",
                     prefix=prefix)
        assert "added coordinator Meera Rao (without the operations pages), a clinician: signs off medical replies" in result.stdout
        assert json.loads(client.hget(f"{prefix}coordinators", "meera rao"))["clinician"] is True
    finally:
        client.delete(*list(client.scan_iter(f"{prefix}*")) or ["none"])


def test_coordinator_remove_logs_the_account_out_everywhere(redis_url):
    from bot import create_app
    from tests.test_console import log_in

    prefix = f"test:{uuid.uuid4().hex}:"
    run(["coordinator", "add", "Ravi Kumar"], redis_url=redis_url, stdin="a long enough password\n", prefix=prefix)
    app = create_app({"REDIS_URL": redis_url, "KEY_PREFIX": prefix, "KNOWLEDGE_PATH": str(FIXTURE_KNOWLEDGE),
                      "ENVIRONMENT": "development", "SKIP_SIGNATURE_CHECK": True, "BACKGROUND_WORKER": False})
    store = app.extensions["assistant"].store
    try:
        browser, _ = log_in(app, name="Ravi Kumar", password="a long enough password")
        assert browser.get("/console/").status_code == 200
        result = run(["coordinator", "remove", "ravi  kumar"], redis_url=redis_url, prefix=prefix)
        assert result.returncode == 0, result.stderr
        assert "removed coordinator ravi kumar" in result.stdout
        assert browser.get("/console/").location.endswith("/console/login")
        assert log_in(app, name="Ravi Kumar", password="a long enough password")[1].status_code == 401
        again = run(["coordinator", "remove", "Ravi Kumar"], redis_url=redis_url, prefix=prefix)
        assert again.returncode == 1 and "there is no coordinator Ravi Kumar" in again.stderr
    finally:
        store.redis.delete(*list(store.redis.scan_iter(f"{prefix}*")) or ["none"])


MINIMAL = """\
intents:
  weather:
    phrases: [what is the weather today, will it rain tomorrow, is it sunny outside, weather forecast please,
              do i need an umbrella, how hot will it be]
  music:
    phrases: [play some jazz, put on a song, i want to hear music, play my playlist, turn on the radio,
              play something relaxing]
out_of_scope: [book a flight to paris, what is my bank balance, order a pizza, set an alarm for six]
"""


def test_match_and_eval_take_any_knowledge_file(tmp_path):
    """Another clinic's (or a benchmark's) knowledge: intents with phrases and out-of-scope examples are enough."""
    path = tmp_path / "other.yaml"
    path.write_text(MINIMAL)
    found = [json.loads(line) for line in run(["match", "--knowledge", str(path), "will it rain today",
                                               "play a song for me"]).stdout.splitlines()]
    assert [f["intent"] for f in found] == ["weather", "music"]
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text(json.dumps({"text": "is it going to be sunny", "intent": "weather", "kind": "plain"}) + "\n")
    result = run(["eval", str(labelled), "--knowledge", str(path)])
    assert result.returncode == 0 and "in-scope accuracy: 100.0% (1/1)" in result.stdout


def test_a_knowledge_file_without_intents_is_named(tmp_path):
    path = tmp_path / "other.yaml"
    path.write_text("out_of_scope: [order a pizza]\n")
    result = run(["match", "--knowledge", str(path), "hello"])
    assert result.returncode == 2
    assert f"{path}:1: intents: must map each intent id to its phrases" in result.stderr
