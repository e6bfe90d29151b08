"""A patient's message as Twilio delivered it."""

from dataclasses import dataclass

# Twilio refuses WhatsApp bodies over 1,600 characters, so a longer one is not a real patient message.
MAX_BODY = 1600


@dataclass(frozen=True)
class Inbound:
    """A patient's message as Twilio delivered it; `sender` is Twilio's From, not assumed to be E.164."""

    sender: str
    body: str = ""
    message_sid: str = ""
    num_media: int = 0
    profile_name: str = ""
    button_payload: str = ""
    latitude: str = ""
    longitude: str = ""
