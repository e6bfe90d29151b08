"""Office hours: open or closed at a moment in the clinic's time zone, and the next opening."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.config import ConfigError, Settings
from bot.hours import HoursError, OfficeHours

IST = ZoneInfo("Asia/Kolkata")


def at(*args):
    return datetime(*args, tzinfo=IST).timestamp()


@pytest.fixture
def hours():
    return OfficeHours.parse("Mon-Fri 09:00-18:00; Sat 09:00-13:00", "Asia/Kolkata")


def test_open_and_closed_follow_the_days_and_times(hours):
    assert hours.is_open(at(2026, 11, 26, 9, 0))  # Thursday, opening minute
    assert hours.is_open(at(2026, 11, 26, 17, 59))
    assert not hours.is_open(at(2026, 11, 26, 18, 0))  # closing minute
    assert hours.is_open(at(2026, 11, 28, 12, 30))  # Saturday morning
    assert not hours.is_open(at(2026, 11, 28, 13, 30))
    assert not hours.is_open(at(2026, 11, 29, 11, 0))  # Sunday


def test_the_next_opening_skips_closed_days(hours):
    assert hours.next_opening(at(2026, 11, 28, 20, 0)) == datetime(2026, 11, 30, 9, 0, tzinfo=IST)
    assert hours.next_opening(at(2026, 11, 26, 7, 0)) == datetime(2026, 11, 26, 9, 0, tzinfo=IST)
    assert hours.opening_text(at(2026, 11, 28, 20, 0)) == "Monday 30 November, 09:00 IST"


def test_the_time_zone_matters():
    utc = OfficeHours.parse("Mon-Sun 09:00-18:00", "UTC")
    assert not utc.is_open(at(2026, 11, 26, 10, 0))  # 04:30 UTC
    assert utc.is_open(at(2026, 11, 26, 16, 0))  # 10:30 UTC


def test_no_hours_means_always_open():
    assert OfficeHours.parse("", "Asia/Kolkata").is_open(at(2026, 11, 29, 3, 0))


@pytest.mark.parametrize("text, zone, message", [
    ("weekdays 9-5", "Asia/Kolkata", "must look like 'Mon-Sat 09:00-18:00'"),
    ("Mon-Fry 09:00-18:00", "Asia/Kolkata", "days are Mon, Tue"),
    ("Mon 18:00-09:00", "Asia/Kolkata", "opening must come before the closing"),
    ("Mon 09:00-18:00", "India/Delhi", "OFFICE_TIMEZONE 'India/Delhi' is not a time zone"),
])
def test_a_malformed_setting_is_named(text, zone, message):
    with pytest.raises(HoursError, match=message):
        OfficeHours.parse(text, zone)
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"OFFICE_HOURS": text, "OFFICE_TIMEZONE": zone})
