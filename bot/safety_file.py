"""safety.yaml's fields, and the faults of a file that has not the shape the red flags are built from."""

# safety.yaml's fields, for the editor who mistypes one.
FIELDS = {
    "reviewed_by": "the clinician who approved the file", "reviewed_on": "the date of that approval, YYYY-MM-DD",
    "spellings": "word: its other spellings", "red_flags": "id: about, signs, helpline",
    "readings": "temperature, degrees, blood_pressure, pulse, times, times_of, weight, not_readings: words",
    "filler": "words", "denial": "words", "asking": "phrases", "history": "phrases", "now": "phrases", "quoting": "phrases",
    "bereaved": "phrases",
    "set_aside": "phrases", "contrast": "words", "words": "common words never read as a misspelt red-flag word",
    "examples": "alarm, self_harm, calm: messages the learnt reader learns from",
    "must_alarm": "messages", "must_not_alarm": "messages",
}
CUE_LISTS = ("filler", "denial", "asking", "history", "now", "quoting", "bereaved", "set_aside", "contrast", "words")
FLAG_FIELDS = ("about", "signs", "helpline")


def faults(data):
    """(place, message) of each way safety.yaml as read is not well formed (its `examples` apart)."""
    found = []
    if not isinstance(data, dict):
        return [((), "must be a mapping with spellings, red_flags, the cue lists and the expectations")]
    for key in data:
        if key not in FIELDS:
            found.append(((key,), f"unknown field '{key}'; known fields: {', '.join(FIELDS)}"))
    for name, message in (("spellings", "must map each word to a list of its other spellings"),
                          ("red_flags", "must map each red flag's id to its about, signs and helpline")):
        if not isinstance(data.get(name), dict) or not data[name]:
            found.append(((name,), message))
    for word, variants in (data.get("spellings") or {}).items() if isinstance(data.get("spellings"), dict) else ():
        if not isinstance(variants, list) or not all(isinstance(v, str) and v.strip() for v in variants):
            found.append((("spellings", word), "must be a list of spellings, each text (put yes, no, on, off in quotes)"))
    for flag_id, flag in (data.get("red_flags") or {}).items() if isinstance(data.get("red_flags"), dict) else ():
        at = ("red_flags", flag_id)
        if not isinstance(flag, dict) or not isinstance(flag.get("signs"), list) or not flag["signs"]:
            found.append((at, "needs `signs`: a list of signs, each like \"chest ; pain | pressure\""))
            continue
        for key in flag:
            if key not in FLAG_FIELDS:
                found.append((at + (key,), f"unknown field '{key}'; known fields: {', '.join(FLAG_FIELDS)}"))
        if not isinstance(flag.get("helpline", False), bool):
            found.append((at + ("helpline",), "must be true or false"))
        for index, sign in enumerate(flag["signs"]):
            if not isinstance(sign, str) or any(not part.replace("|", "").strip() for part in sign.split(";")):
                found.append((at + ("signs", index), "each ;-separated part needs at least one word"))
    readings = data.get("readings") or {}
    if not isinstance(readings, dict) or any(not isinstance(v, list) for v in readings.values()):
        found.append((("readings",), "must map temperature, degrees, blood_pressure, pulse, times, times_of, weight and "
                                     "not_readings to lists of words"))
    for name in CUE_LISTS + ("must_alarm", "must_not_alarm"):
        value = data.get(name)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, (str, int, float)) and
                                                                         not isinstance(v, bool) for v in value)):
            found.append(((name,), "must be a list of words or phrases (put yes, no, on, off in quotes)"))
    return found
