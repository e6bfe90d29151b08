"""Office hours of the coordinators, in the clinic's time zone: open now? when do they open next?"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_GROUP = re.compile(r"^(\w{3})(?:-(\w{3}))?\s+(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


class HoursError(ValueError):
    """OFFICE_HOURS or OFFICE_TIMEZONE cannot be read; the message shows the expected form."""


@dataclass(frozen=True)
class OfficeHours:
    """Opening minutes per weekday (Monday is 0); no groups at all means always open."""

    zone: ZoneInfo
    spans: tuple  # (weekday, first minute, minute after the last)

    @classmethod
    def parse(cls, text, zone_name):
        """Read "Mon-Fri 09:00-18:00; Sat 09:00-13:00" (empty: always open) in the time zone `zone_name`."""
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise HoursError(f"OFFICE_TIMEZONE {zone_name!r} is not a time zone such as Asia/Kolkata") from None
        spans = []
        for group in filter(None, (g.strip() for g in text.split(";"))):
            found = _GROUP.match(group)
            if not found:
                raise HoursError(f"OFFICE_HOURS part {group!r} must look like 'Mon-Sat 09:00-18:00'")
            first, last = (found[1].lower(), (found[2] or found[1]).lower())
            if first not in DAYS or last not in DAYS:
                raise HoursError(f"OFFICE_HOURS part {group!r}: days are {', '.join(d.title() for d in DAYS)}")
            start = int(found[3]) * 60 + int(found[4])
            end = int(found[5]) * 60 + int(found[6])
            if not 0 <= start < end <= 24 * 60:
                raise HoursError(f"OFFICE_HOURS part {group!r}: the opening must come before the closing, within one day")
            for day in range(DAYS.index(first), DAYS.index(last) + 1):
                spans.append((day, start, end))
        return cls(zone, tuple(spans))

    def is_open(self, when):
        """True when `when` (a Unix time) falls within office hours."""
        if not self.spans:
            return True
        local = datetime.fromtimestamp(when, self.zone)
        minute = local.hour * 60 + local.minute
        return any(day == local.weekday() and start <= minute < end for day, start, end in self.spans)

    def next_opening(self, when):
        """The local datetime at which the office next opens after `when`; `when` itself while open."""
        local = datetime.fromtimestamp(when, self.zone)
        if self.is_open(when):
            return local
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        for ahead in range(8):
            day = midnight + timedelta(days=ahead)
            for weekday, start, _ in sorted(self.spans, key=lambda span: span[1]):
                # Wall-clock arithmetic in the zone, so a change of clocks does not shift the opening.
                opening = day.replace(hour=start // 60, minute=start % 60)
                if weekday == day.weekday() and opening > local:
                    return opening
        return local

    def opening_text(self, when):
        """The next opening as patients read it, e.g. "Monday 14 July, 09:00 IST"."""
        opening = self.next_opening(when)
        return f"{opening:%A} {opening.day} {opening:%B}, {opening:%H:%M %Z}"
