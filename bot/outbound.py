"""Messages that are not the webhook's own reply go out through Twilio's REST API, with a timeout."""

import json
import logging
from dataclasses import dataclass

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from bot.logs import mask

log = logging.getLogger(__name__)


# Twilio's answer when the patient has opted out (21610) or has blocked the business on WhatsApp (63014).
OPTED_OUT_CODES = (21610, 63014)
# Twilio's answer to free text outside WhatsApp's 24-hour window: the text waits for the patient's next message.
WINDOW_CLOSED = 63016


class SendError(Exception):
    """Twilio did not accept a message; `code` is Twilio's error code (21610: the patient opted out)."""

    def __init__(self, code, message):
        self.code = code
        super().__init__(f"Twilio error {code}: {message}")


@dataclass(frozen=True)
class Sent:
    """A message Twilio accepted."""

    sid: str
    status: str


class Outbound:
    """Sends WhatsApp messages with the Twilio SDK: free text, or an approved content template."""

    def __init__(self, settings):
        self.settings = settings
        http = TwilioHttpClient(timeout=settings.TWILIO_TIMEOUT)
        self.client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http)
        # Tests point the real client at a local stand-in for api.twilio.com.
        self.client.api.base_url = settings.TWILIO_API_BASE_URL

    def send(self, to, body=None, content_sid=None, variables=None):
        """Send one message to `to` (a whatsapp: or SMS address); raise SendError when Twilio refuses it."""
        fields = {"to": to}
        if self.settings.TWILIO_MESSAGING_SERVICE_SID:
            fields["messaging_service_sid"] = self.settings.TWILIO_MESSAGING_SERVICE_SID
        else:
            fields["from_"] = _same_channel(to, self.settings.TWILIO_FROM)
        if content_sid:
            fields["content_sid"] = content_sid
            if variables:
                fields["content_variables"] = json.dumps(variables)
        else:
            fields["body"] = body
        if self.settings.PUBLIC_BASE_URL:
            fields["status_callback"] = self.settings.PUBLIC_BASE_URL.rstrip("/") + "/twilio/status"
        try:
            message = self.client.messages.create(**fields)
        except TwilioRestException as exc:
            log.warning("Twilio refused a message to %s: error %s", mask(to), exc.code)
            raise SendError(exc.code, exc.msg) from None
        except (TwilioException, requests.RequestException) as exc:
            log.warning("could not reach Twilio for %s: %s", mask(to), type(exc).__name__)
            raise SendError(None, str(exc)) from None
        return Sent(message.sid, message.status)


def _same_channel(to, sender):
    """Twilio needs From on the recipient's channel: whatsapp:+1... for WhatsApp, the bare number for SMS."""
    number = sender.rpartition(":")[2]
    return f"whatsapp:{number}" if to.startswith("whatsapp:") else number
