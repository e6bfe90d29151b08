"""Choices as WhatsApp buttons or a list, through Twilio content templates, when the settings name one that fits."""

# WhatsApp's limits for a message sent within the 24-hour session.
MAX_QUICK_REPLIES = 3
MAX_LIST_ITEMS = 10


def template(message, settings, list_button):
    """(content SID, variables) for the message's choices, or None when no configured template fits.

    Variables: `body`, a list's `button` label, and per choice n (from 1) its title `item<n>` and
    its `id<n>`, the intent id that comes back as ButtonPayload (or ListId) when the patient taps it.
    """
    count = len(message.choices)
    variables = {"body": message.as_body()}
    sid = settings.quick_reply_sids.get(count) if count <= MAX_QUICK_REPLIES else None
    if sid is None and count <= MAX_LIST_ITEMS:
        sid = settings.list_picker_sids.get(count)
        variables["button"] = list_button
    if sid is None:
        return None
    for n, (intent_id, title) in enumerate(message.choices, 1):
        variables[f"item{n}"] = title
        variables[f"id{n}"] = intent_id
    return sid, variables
