"""Twilio's webhooks: POST /whatsapp (a patient's message, answered with TwiML) and POST /twilio/status
(delivery reports of the messages the app sent). Both must carry Twilio's signature."""

import logging
import re

from flask import Blueprint, Response, abort, current_app, request
from twilio.request_validator import RequestValidator, compare
from twilio.twiml.messaging_response import MessagingResponse

from bot import metrics
from bot.inbound import Inbound
from bot.logs import mask

log = logging.getLogger(__name__)
bp = Blueprint("webhook", __name__)

# Twilio's signature joins the sorted names and values with nothing between them, so text moved from one
# field into the next keeps a captured signature valid (MessageSid=<sid>NumMedia1). Such a form is refused:
# fields Twilio gives a fixed shape must have it, and where Twilio writes its own words (statuses, types,
# links, button ids) no name of a field missing from the form may appear. Free text (Body, ProfileName, ...)
# may hold anything, and fields unknown here are not read.
_MESSAGE_SID = r"(SM|MM)[0-9a-fA-F]{32}"
_ADDRESS = r"(whatsapp:)?\+[0-9]{1,15}"
_NUMBER = r"-?[0-9]+(\.[0-9]+)?"
SHAPES = {name: re.compile(shape) for name, shape in {
    "MessageSid": _MESSAGE_SID, "SmsMessageSid": _MESSAGE_SID, "SmsSid": _MESSAGE_SID,
    "OriginalRepliedMessageSid": _MESSAGE_SID,
    "AccountSid": r"AC[0-9a-fA-F]{32}", "MessagingServiceSid": r"MG[0-9a-fA-F]{32}",
    "From": _ADDRESS, "To": _ADDRESS, "OriginalRepliedMessageSender": _ADDRESS, "WaId": r"[0-9]{1,15}",
    "NumMedia": r"[0-9]+", "NumSegments": r"[0-9]+", "ReferralNumMedia": r"[0-9]+", "ErrorCode": r"[0-9]*",
    "Latitude": _NUMBER, "Longitude": _NUMBER,
}.items()}
TWILIO_WORDS = {"ApiVersion", "SmsStatus", "MessageStatus", "MessageType", "ButtonPayload", "ListId",
                "ChannelPrefix", "ChannelInstallSid", "ChannelToAddress", "Forwarded", "FrequentlyForwarded",
                "ReferralSourceId", "ReferralSourceType", "ReferralSourceUrl", "ReferralMediaId",
                "ReferralMediaContentType", "ReferralMediaUrl", "ReferralCtwaClid"}
FREE_TEXT = {"Body", "ProfileName", "ButtonText", "ListTitle", "Address", "Label", "ReferralBody",
             "ReferralHeadline", "ChannelMetadata"}
# Up to ten attachments, each with its type and link.
_MEDIA = {f"{kind}{n}" for kind in ("MediaContentType", "MediaUrl") for n in range(10)}
FIELDS = set(SHAPES) | TWILIO_WORDS | FREE_TEXT | _MEDIA


@bp.post("/whatsapp")
@metrics.LATENCY.time()
def receive():
    """Twilio's webhook for incoming WhatsApp messages."""
    _check_signature()
    # Twilio always sends the message's sid and its sender: without them a message is never recorded.
    _check_fields(required=("MessageSid", "From"))
    inbound = read_inbound(request.form)
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
    _check_fields(required=("MessageSid",))
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


def _check_fields(required):
    """Stop the request with 403 unless its fields are as Twilio sends them (see FIELDS above)."""
    field = misplaced(request.form, required)
    if field:
        # The field's name only: a value moved about may carry a message's text or a number.
        sender = request.form.get("From", "")
        extra = {"field": field, "path": request.path}
        if field != "From" and SHAPES["From"].fullmatch(sender):
            extra["sender"] = mask(sender)
        log.warning("rejected a signed request with fields Twilio never sends", extra=extra)
        metrics.REJECTED.inc()
        abort(403)


def misplaced(form, required=()):
    """The first field of the form (a MultiDict) Twilio would not send as it is: missing, repeated or misshapen."""
    for name, values in form.lists():
        value = values[0]
        if len(values) > 1 or (name in SHAPES and not SHAPES[name].fullmatch(value)):
            return name
        if (name in TWILIO_WORDS or name in _MEDIA) and any(other in value for other in FIELDS if other not in form):
            return name
    return next((name for name in required if not form.get(name)), None)


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


def read_inbound(form):
    """Turn Twilio's form (checked by `misplaced`) into an Inbound; unknown fields are ignored."""
    num_media = int(form.get("NumMedia", "0") or 0)
    return Inbound(
        sender=form.get("From", ""),
        body=form.get("Body", ""),
        # A retry repeats the MessageSid, which is how it is recognised.
        message_sid=form.get("MessageSid", ""),
        num_media=num_media,
        profile_name=form.get("ProfileName", ""),
        # A tapped quick-reply button arrives as ButtonPayload, an item picked from a list as ListId.
        button_payload=form.get("ButtonPayload", "") or form.get("ListId", ""),
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
