"""The store on the embedded Redis and on a Redis server."""

import subprocess
import sys

import pytest
import redis

from bot.config import ROOT
from bot.store import Store, connect


@pytest.fixture(params=["embedded", "server"])
def backend(request, tmp_path, redis_url):
    """A Store on each kind of Redis the app can use."""
    client = connect("" if request.param == "embedded" else redis_url, str(tmp_path / "instance"))
    store = Store(client, prefix=f"t{id(request)}:", transcript_limit=3, retention_seconds=3600)
    yield store
    client.delete(*client.keys(f"{store.prefix}*") or ["none"])


def test_state_round_trips(backend):
    assert backend.load("whatsapp:+911") == {}
    backend.save("whatsapp:+911", {"menu": ["costs"], "misses": 1, "more": {"pages": ["दुष्प्रभाव"]}})
    assert backend.load("whatsapp:+911") == {"menu": ["costs"], "misses": 1, "more": {"pages": ["दुष्प्रभाव"]}}
    assert backend.load("whatsapp:+912") == {}


def test_transcript_is_capped_and_keeps_the_newest(backend):
    for n in range(5):
        backend.append("whatsapp:+911", "patient", f"message {n} नमस्ते")
    texts = [entry["text"] for entry in backend.transcript("whatsapp:+911")]
    assert texts == ["message 2 नमस्ते", "message 3 नमस्ते", "message 4 नमस्ते"]


def test_everything_expires_after_the_retention_time(backend):
    backend.save("whatsapp:+911", {"a": 1})
    backend.append("whatsapp:+911", "patient", "hi")
    for kind in ("state", "transcript"):
        assert 3500 < backend.redis.ttl(backend.key(kind, "whatsapp:+911")) <= 3600


def test_forget_erases_every_key_of_the_sender_only(backend):
    for sender in ("whatsapp:+911", "whatsapp:+912"):
        backend.save(sender, {"a": 1})
        backend.append(sender, "patient", "hi")
        backend.opt_out(sender)
        backend.record_notice(sender, "v1")
    backend.forget("whatsapp:+911")
    assert backend.redis.keys(f"{backend.prefix}*whatsapp:+911") == []
    assert backend.load("whatsapp:+912") == {"a": 1} and backend.opted_out("whatsapp:+912")
    assert backend.notice("whatsapp:+912") == "v1"


def test_opting_out_and_back_in(backend):
    assert not backend.opted_out("whatsapp:+911")
    backend.opt_out("whatsapp:+911")
    assert backend.opted_out("whatsapp:+911") and not backend.opted_out("whatsapp:+912")
    backend.opt_in("whatsapp:+911")
    assert not backend.opted_out("whatsapp:+911")


def test_the_notice_version_seen_is_recorded(backend):
    assert backend.notice("whatsapp:+911") is None
    backend.record_notice("whatsapp:+911", "2025-06-01")
    assert backend.notice("whatsapp:+911") == "2025-06-01"


def test_a_new_message_extends_the_retention_of_every_key(backend):
    sender = "whatsapp:+911"
    backend.opt_out(sender)
    backend.record_notice(sender, "v1")
    for kind in ("optout", "notice"):
        backend.redis.expire(backend.key(kind, sender), 60)
    backend.save(sender, {"a": 1})
    for kind in ("state", "optout", "notice"):
        assert 3500 < backend.redis.ttl(backend.key(kind, sender)) <= 3600


def test_keys_carry_the_prefix(backend):
    sender = "whatsapp:+910123456789"
    backend.save(sender, {"a": 1})
    backend.append(sender, "patient", "hi")
    keys = backend.redis.keys(f"*{sender}*")
    assert len(keys) == 2 and all(key.startswith(backend.prefix) for key in keys)


def test_embedded_data_survives_a_restart_of_the_app(tmp_path):
    """Two processes one after the other on the same instance folder see the same conversation."""
    script = (
        "import sys; from bot.store import Store, connect; "
        "s = Store(connect('', sys.argv[1])); "
        "s.append('whatsapp:+911', 'patient', sys.argv[2]) if sys.argv[2] else None; "
        "print([m['text'] for m in s.transcript('whatsapp:+911')])"
    )
    run = lambda text: subprocess.run([sys.executable, "-c", script, str(tmp_path), text], cwd=ROOT,
                                      capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    assert run("first") == "['first']"
    assert run("") == "['first']"


def test_a_server_that_is_down_raises_quickly(tmp_path):
    client = connect("redis://127.0.0.1:1/0", str(tmp_path))
    with pytest.raises(redis.ConnectionError):
        client.ping()
