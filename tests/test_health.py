"""/healthz, /readyz and /metrics as operations see them."""

from prometheus_client.parser import text_string_to_metric_families


def scrape(client):
    """Every sample of /metrics as {(name, labels): value}."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.get_data(as_text=True)) for s in family.samples}


def test_healthz_says_the_process_is_up(whatsapp):
    response = whatsapp.client.get("/healthz")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})


def test_readyz_says_ready_when_redis_answers_and_the_knowledge_is_loaded(app, whatsapp):
    response = whatsapp.client.get("/readyz")
    assert response.status_code == 200
    version = app.extensions["assistant"].knowledge_file.version
    assert len(version) == 12
    assert response.get_json() == {"ready": True, "redis": "ok", "knowledge": "ok", "knowledge_version": version,
                                   "kept_on_disk": 0}


def test_metrics_count_what_patients_and_twilio_did(whatsapp):
    before = scrape(whatsapp.client)
    whatsapp.send("how much does it cost")
    whatsapp.send("who won the cricket match yesterday")
    retried = whatsapp.form("what are the side effects")
    whatsapp.post(retried)
    whatsapp.post(retried)
    whatsapp.post(whatsapp.form("hello"), signature="bm90IGl0")
    after = scrape(whatsapp.client)

    def grew(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("assistant_messages_received_total") == 4
    assert grew("assistant_replies_total") == 3
    assert grew("assistant_intents_total", intent="costs") == 1
    assert grew("assistant_intents_total", intent="side_effects") == 1
    assert grew("assistant_intents_total", intent="none") == 1
    assert grew("assistant_fallbacks_total") == 1
    assert grew("assistant_duplicates_total") == 1
    assert grew("assistant_rejected_requests_total") == 1
    assert grew("assistant_webhook_seconds_count") == 5


def test_the_handoff_metrics_are_exposed_for_the_handoff_to_fill(whatsapp):
    samples = scrape(whatsapp.client)
    assert ("assistant_handoffs_total", ()) in samples
    assert ("assistant_handoff_queue_length", ()) in samples
