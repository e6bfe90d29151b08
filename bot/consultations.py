"""Consultation requests (bot/booking.py fills the form): the form as coordinators read it, and the booked time
as the patient reads it, with the day its reminder is due."""

from datetime import datetime, time, timedelta

# The form's fields in the order the console lists them, with their English labels.
LABELS = {"for_whom": "For", "name": "Patient's name", "age": "Age", "city": "City", "cancer": "Cancer",
          "reports": "Reports at hand", "day": "Preferred day", "time": "Part of the day", "call": "Call",
          "reference": "Reference", "lang": "Language"}
_VALUES = {"for_whom": {"self": "The patient themself", "relative": "A relative"},
           "time": {"morning": "Morning", "afternoon": "Afternoon", "evening": "Evening"},
           "call": {"phone": "Phone call", "video": "Video call"}, "lang": {"en": "English", "hi": "Hindi"}}
# The patient hears of the booking again the day before, at this time of the clinic's day.
REMINDER_AT = time(10, 0)
_DAYS_HI = ("सोमवार", "मंगलवार", "बुधवार", "गुरुवार", "शुक्रवार", "शनिवार", "रविवार")
_MONTHS_HI = ("जनवरी", "फ़रवरी", "मार्च", "अप्रैल", "मई", "जून", "जुलाई", "अगस्त", "सितंबर", "अक्टूबर", "नवंबर", "दिसंबर")


def fields(form):
    """(label, value) of every field of the form, as text for the console (escaped by the template)."""
    return [(label, _value(key, form.get(key))) for key, label in LABELS.items()]


def facts(form):
    """The queue's one line on a request: who, where, when, how, its reference."""
    return (f"{form.get('name', '')}, {form.get('age', '')}, {form.get('city', '')} · {form.get('day', '')}, "
            f"{_value('time', form.get('time')).lower()} · {_value('call', form.get('call')).lower()} · "
            f"{form.get('reference', '')}")


def _value(key, value):
    if key == "reports":
        return "Yes" if value else "No"
    if key == "cancer" and not value:
        return "Not given"
    return _VALUES.get(key, {}).get(value, "" if value is None else str(value))


def when_text(when, lang):
    """The consultation's date and time as the patient reads it: "Friday 12 December 2025, 10:30"."""
    if lang == "hi":
        return f"{_DAYS_HI[when.weekday()]} {when.day} {_MONTHS_HI[when.month - 1]} {when.year}, {when:%H:%M}"
    return f"{when:%A} {when.day} {when:%B %Y, %H:%M}"


def booked(chat, zone):
    """What the console says of a booked consultation, in the clinic's time zone ("" when not booked)."""
    if not chat or not chat.get("booked_at"):
        return ""
    when = datetime.fromtimestamp(chat["booked_at"], zone)
    return f"Booked for {when_text(when, 'en')} by {chat.get('booked_by', '')}."


def reminder_due(when, now):
    """When the reminder goes (Unix time): the day before `when` at REMINDER_AT, at once when that has passed,
    None when the consultation itself has."""
    due = datetime.combine(when.date() - timedelta(days=1), REMINDER_AT, tzinfo=when.tzinfo).timestamp()
    if due > now:
        return due
    return now if when.timestamp() > now else None
