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


def run(args, redis_url=None, stdin=None, prefix="test:cli:"):
    env = {**os.environ, "KNOWLEDGE_PATH": str(FIXTURE_KNOWLEDGE)}
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
