"""Twilio's webhooks: POST /whatsapp (a patient's message, answered with TwiML) and POST /twilio/status
(delivery reports of the messages the app sent). Both must carry Twilio's signature."""

import logging

from flask import Blueprint, Response, abort, current_app, request
from twilio.request_validator import RequestValidator, compare
from twilio.twiml.messaging_response import MessagingResponse

from bot import metrics
from bot.assistant import Inbound

log = logging.getLogger(__name__)
bp = Blueprint("webhook", __name__)


@bp.post("/whatsapp")
@metrics.LATENCY.time()
def receive():
    """Twilio's webhook for incoming WhatsApp messages."""
    _check_signature()
    inbound = read_inbound(request.form, request.headers.get("I-Twilio-Idempotency-Token", ""))
    metrics.RECEIVED.inc()
    assistant = current_app.extensions["assistant"]
    try:
        replies = assistant.respond(inbound)
    except Exception as exc:
        # A patient never sees an error page: they get an apology and the emergency numbers, and the
        # message is kept for the care team.
        assistant.keep(inbound, exc)
        replies = [assistant.apology()]
    metrics.REPLIES.inc(len(replies))
    return twiml(replies)


@bp.post("/twilio/status")
def status():
    """Twilio's status callback: queued, sent, delivered, read or failed, for a message the app sent."""
    _check_signature()
    known = current_app.extensions["assistant"].handoff.status_callback(request.form)
    # A success either way: Twilio can do nothing about a report of a message we do not track.
    return Response(status=200 if known else 204)


def _check_signature():
    """Stop the request with 403 unless Twilio signed it (or the check is turned off for development)."""
    settings = current_app.config["SETTINGS"]
    if not settings.SKIP_SIGNATURE_CHECK and not _signed_by_twilio(settings):
        log.warning("rejected a request with a missing or wrong Twilio signature")
        metrics.REJECTED.inc()
        abort(403)


def _signed_by_twilio(settings):
    """True when X-Twilio-Signature matches the form and the public URL Twilio called."""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    validator, url = RequestValidator(settings.TWILIO_AUTH_TOKEN), public_url(settings)
    # The URL as Twilio called it is what it signed; validate() also tries it with and without the port
    # (two signatures on every request), so it is left for the requests the first check refuses.
    return (compare(validator.compute_signature(url, request.form), signature)
            or validator.validate(url, request.form, signature))


def public_url(settings):
    """The URL Twilio signed: built from PUBLIC_BASE_URL when set, else the one Flask sees (after ProxyFix)."""
    if not settings.PUBLIC_BASE_URL:
        return request.url
    query = request.query_string.decode("latin-1")
    return settings.PUBLIC_BASE_URL.rstrip("/") + request.path + (f"?{query}" if query else "")


def read_inbound(form, idempotency_token=""):
    """Turn Twilio's form into an Inbound; unknown fields are ignored, odd values tolerated."""
    try:
        num_media = max(0, int(form.get("NumMedia", "0") or 0))
    except ValueError:
        num_media = 0
    return Inbound(
        sender=form.get("From", ""),
        body=form.get("Body", ""),
        # A retry repeats the MessageSid and the I-Twilio-Idempotency-Token header; either identifies it.
        message_sid=form.get("MessageSid", "") or idempotency_token,
        num_media=num_media,
        media_types=tuple(form.get(f"MediaContentType{i}", "") for i in range(min(num_media, 10))),
        profile_name=form.get("ProfileName", ""),
        wa_id=form.get("WaId", ""),
        # A tapped quick-reply button arrives as ButtonPayload, an item picked from a list as ListId.
        button_payload=form.get("ButtonPayload", "") or form.get("ListId", ""),
        button_text=form.get("ButtonText", ""),
        latitude=form.get("Latitude", ""),
        longitude=form.get("Longitude", ""),
    )


# Silence (a retry, a chat with a coordinator, an opted-out patient) is the same document every time.
SILENCE = str(MessagingResponse())


def twiml(replies):
    """A TwiML answer with one <Message> per reply; an empty <Response/> when there is nothing to say."""
    if not replies:
        return Response(SILENCE, mimetype="text/xml")
    response = MessagingResponse()
    for text in replies:
        response.message(text)
    return Response(str(response), mimetype="text/xml")
