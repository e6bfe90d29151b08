"""Clinical sign-off of medical replies: which intents are medical, which are signed off, and what patients get meanwhile."""

import datetime

from bot.matcher import EMERGENCY


def medical(intent_id, settings):
    """True for an intent of MEDICAL_INTENTS, or a sub-intent of one (`benefits.prognosis` of `benefits`)."""
    return intent_id in settings.medical_intents or intent_id.split(".", 1)[0] in settings.medical_intents


def clinical(intent_id, settings):
    """True for the replies a clinician signs off: the medical ones and the emergency reply."""
    return intent_id == EMERGENCY or medical(intent_id, settings)


def signed(intent):
    """True when a clinician's name and the day of their sign-off are both filled in."""
    return bool(intent.reviewed_by and intent.reviewed_on)


def held_back(intent, settings):
    """True when the intent's reply waits for a clinician: medical, not signed off, and UNSIGNED_MEDICAL_REPLIES=offer."""
    # The emergency advice goes out whatever its review says: holding it back would cost more than any wording.
    return (settings.UNSIGNED_MEDICAL_REPLIES == "offer" and intent.id != EMERGENCY and medical(intent.id, settings)
            and not signed(intent))


def today(settings):
    """The clinic's date (OFFICE_TIMEZONE): the day a sign-off is recorded for."""
    return datetime.datetime.now(settings.office_hours.zone).date()


def needing(knowledge, settings):
    """(intent, why) for each medical intent, and the emergency one, to sign off: never signed off, or longer ago than
    REVIEW_MAX_DAYS."""
    day, found = today(settings), []
    for intent in knowledge.intents.values():
        if not clinical(intent.id, settings):
            continue
        if not signed(intent):
            found.append((intent, "not signed off"))
        elif (day - intent.reviewed_on).days > settings.REVIEW_MAX_DAYS:
            found.append((intent, f"signed off by {intent.reviewed_by} on {intent.reviewed_on}, more than "
                                  f"{settings.REVIEW_MAX_DAYS} days ago"))
        elif intent.reviewed_on > day:
            found.append((intent, f"signed off on a day still ahead ({intent.reviewed_on})"))
    return found
