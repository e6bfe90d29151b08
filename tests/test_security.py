"""App-wide protections: security headers on every response, secret key and cookie flags."""

import pytest

from bot import create_app
from tests.conftest import SECRET_KEY, replies_of
from tests.test_webhook import SIDE_EFFECTS

EXPECTED = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def requests_of_every_kind(whatsapp):
    """One response of each kind the app gives: answers, refusals and errors, on every route."""
    client = whatsapp.client
    return {
        "webhook answer": whatsapp.post(whatsapp.form("hello")),
        "bad signature": whatsapp.post(whatsapp.form("hello"), signature="bm90IGl0"),
        "healthz": client.get("/healthz"),
        "readyz": client.get("/readyz"),
        "metrics": client.get("/metrics"),
        "not found": client.get("/nothing-here"),
        "wrong method": client.get("/whatsapp"),
        "too large": whatsapp.post(whatsapp.form("x" * 300_000)),
    }


def test_every_response_carries_the_security_headers(whatsapp):
    responses = requests_of_every_kind(whatsapp)
    assert {name: r.status_code for name, r in responses.items()} == {
        "webhook answer": 200, "bad signature": 403, "healthz": 200, "readyz": 200, "metrics": 200,
        "not found": 404, "wrong method": 405, "too large": 413,
    }
    for name, response in responses.items():
        for header, value in EXPECTED.items():
            assert response.headers.get(header) == value, (name, header)
        policy = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy, name
        assert "unsafe-inline" not in policy, name
        assert response.headers["Strict-Transport-Security"].startswith("max-age="), name
        assert response.headers["Cache-Control"] == "no-store", name


def test_the_webhook_answer_is_unchanged_by_the_headers(whatsapp, returning):
    assert replies_of(whatsapp.post(whatsapp.form("what are the side effects"))) == [SIDE_EFFECTS]


def test_session_cookies_are_signed_with_secret_key_and_locked_down(app):
    assert app.config["SECRET_KEY"] == SECRET_KEY
    assert app.config["SESSION_COOKIE_HTTPONLY"] and app.config["SESSION_COOKIE_SECURE"]
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_development_makes_one_key_for_all_processes_and_keeps_it(test_config):
    config = {**test_config, "ENVIRONMENT": "development", "SECRET_KEY": ""}
    first, second = create_app(config), create_app(config)
    key = first.config["SECRET_KEY"]
    # Kept in Redis, so every process and host of the deployment signs and reads the same cookies.
    assert len(key) == 64 and second.config["SECRET_KEY"] == key
    store = first.extensions["assistant"].store
    assert store.redis.get(f"{store.prefix}secret-key") == key
    # Plain http on a developer's machine: a Secure cookie would never come back.
    assert not first.config["SESSION_COOKIE_SECURE"]
    assert "Strict-Transport-Security" not in first.test_client().get("/healthz").headers


@pytest.mark.parametrize("token_field", ["TWILIO_AUTH_TOKEN", "SECRET_KEY"])
def test_production_refuses_to_start_without_a_secret(test_config, token_field):
    with pytest.raises(Exception, match=token_field):
        create_app({**test_config, token_field: ""})
