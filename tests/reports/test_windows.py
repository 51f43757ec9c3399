"""When reports are due (Schedule.latest) and which expiry dates they list (Window), to the
second: daily at 10:00 report time, delivered by 10:30; monthly on the 1st at 00:00,
delivered by 01:00; report time UTC+02:00 unless another offset or zone is set."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from certdesk.application.compose import report_config
from certdesk.errors import InvalidArgument
from certdesk.pki.expiry import is_expired
from certdesk.reports import KIND_NAMES, Schedule, parse_timezone
from certdesk.reports.windows import parse_clock
from certdesk.settings import Settings, load_settings

PLUS2 = timezone(timedelta(hours=2))
DAILY = Schedule("daily", PLUS2, time(10, 0), timedelta(minutes=30))
MONTHLY = Schedule("monthly", PLUS2, time(0, 0), timedelta(minutes=60), day=1)


def t(text: str) -> datetime:
    """An instant written in report time (+02:00) unless the text has its own offset."""
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=PLUS2)).astimezone(UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- the daily report -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "key", "late"),
    [
        ("2027-03-10T09:59:59", "2027-03-09", True),  # today's is not due yet
        ("2027-03-10T10:00:00", "2027-03-10", False),  # due exactly now
        ("2027-03-10T10:30:00", "2027-03-10", False),  # the deadline itself is in time
        ("2027-03-10T10:30:01", "2027-03-10", True),
        ("2027-03-10T23:59:59", "2027-03-10", True),
        ("2027-03-11T00:00:00", "2027-03-10", True),  # a new day, before its 10:00
    ],
)
def test_daily_period_around_due_time_and_deadline(now: str, key: str, late: bool) -> None:
    period = DAILY.latest(t(now))
    assert period.kind == "daily"
    assert period.key == key
    assert period.due == t(f"{key}T10:00:00")
    assert period.due == utc(f"{key}T08:00:00")  # +02:00 is UTC 08:00
    assert period.deadline == utc(f"{key}T08:30:00")
    assert period.is_late(t(now)) is late


def test_daily_key_is_the_report_time_date_not_the_utc_date() -> None:
    # 01:00 on 10 March in report time is still 9 March in UTC; the daily due before it
    # is 9 March 10:00 (report time), keyed by the report-time date.
    period = DAILY.latest(utc("2027-03-09T23:00:00"))
    assert period.key == "2027-03-09"
    period = DAILY.latest(utc("2027-03-10T07:59:59"))
    assert period.key == "2027-03-09"
    period = DAILY.latest(utc("2027-03-10T08:00:00"))
    assert period.key == "2027-03-10"


@pytest.mark.parametrize(
    ("now", "key"),
    [
        ("2027-03-01T09:59:59", "2027-02-28"),  # month rollover (no 29 Feb in 2027)
        ("2028-03-01T09:59:59", "2028-02-29"),  # leap year
        ("2028-01-01T09:59:59", "2027-12-31"),  # year rollover
        ("2028-01-01T10:00:00", "2028-01-01"),
    ],
)
def test_daily_period_across_month_and_year(now: str, key: str) -> None:
    assert DAILY.latest(t(now)).key == key
    assert DAILY.latest(t(now)).due == t(f"{key}T10:00:00")


# --- the monthly report -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "key", "late"),
    [
        ("2027-03-31T23:59:59", "2027-03", True),
        ("2027-04-01T00:00:00", "2027-04", False),
        ("2027-04-01T00:59:59", "2027-04", False),
        ("2027-04-01T01:00:00", "2027-04", False),  # delivered by 01:00: still in time
        ("2027-04-01T01:00:01", "2027-04", True),
        ("2027-04-15T12:00:00", "2027-04", True),
        ("2027-12-31T23:59:59", "2027-12", True),
        ("2028-01-01T00:00:00", "2028-01", False),  # year rollover
        ("2028-01-01T00:00:00+00:00", "2028-01", True),  # 02:00 in report time
        ("2027-12-31T23:00:00+00:00", "2028-01", False),  # 01:00 on 1 Jan in report time
    ],
)
def test_monthly_period_around_due_time_and_deadline(now: str, key: str, late: bool) -> None:
    period = MONTHLY.latest(t(now))
    assert period.kind == "monthly"
    assert period.key == key
    year, month = (int(p) for p in key.split("-"))
    assert period.due == datetime(year, month, 1, tzinfo=PLUS2).astimezone(UTC)
    assert period.deadline == period.due + timedelta(hours=1)
    assert period.is_late(t(now)) is late


def test_monthly_due_is_the_evening_before_in_utc() -> None:
    period = MONTHLY.latest(utc("2027-03-31T22:00:00"))
    assert (period.key, period.due) == ("2027-04", utc("2027-03-31T22:00:00"))
    assert MONTHLY.latest(utc("2027-03-31T21:59:59")).key == "2027-03"
    # January's report is due on 31 December in UTC.
    assert MONTHLY.latest(utc("2027-12-31T22:00:00")).key == "2028-01"
    assert MONTHLY.latest(utc("2027-12-31T21:59:59")).key == "2027-12"


def test_monthly_on_another_day_and_time() -> None:
    schedule = Schedule("monthly", PLUS2, time(6, 30), timedelta(minutes=15), day=15)
    assert schedule.latest(t("2027-02-15T06:29:59")).key == "2027-01"
    period = schedule.latest(t("2027-02-15T06:30:00"))
    assert (period.key, period.due, period.deadline) == (
        "2027-02",
        t("2027-02-15T06:30:00"),
        t("2027-02-15T06:45:00"),
    )


# --- an IANA zone across daylight-saving changes -------------------------------------------

ATHENS = ZoneInfo("Europe/Athens")  # UTC+2 in winter, UTC+3 from the last Sunday of March


def test_daily_in_an_iana_zone_follows_daylight_saving() -> None:
    schedule = Schedule("daily", ATHENS, time(10, 0), timedelta(minutes=30))
    # 2027-03-28 is the last Sunday of March: clocks go from 03:00 to 04:00.
    before = schedule.latest(utc("2027-03-27T08:00:00"))
    assert (before.key, before.due) == ("2027-03-27", utc("2027-03-27T08:00:00"))
    after = schedule.latest(utc("2027-03-28T07:00:00"))  # 10:00 EEST
    assert (after.key, after.due) == ("2027-03-28", utc("2027-03-28T07:00:00"))
    assert after.deadline == utc("2027-03-28T07:30:00")
    # 08:00 UTC on the 28th is 11:00 local: the same period, already late.
    assert schedule.latest(utc("2027-03-28T08:00:00")).is_late(utc("2027-03-28T08:00:00"))
    # One second before 10:00 local on the 28th is still the 27th's period.
    assert schedule.latest(utc("2027-03-28T06:59:59")).key == "2027-03-27"
    # Back to winter time on 2027-10-31 (04:00 → 03:00).
    autumn = schedule.latest(utc("2027-10-31T08:00:00"))
    assert (autumn.key, autumn.due) == ("2027-10-31", utc("2027-10-31T08:00:00"))
    assert schedule.latest(utc("2027-10-30T07:00:00")).due == utc("2027-10-30T07:00:00")


def test_monthly_in_an_iana_zone_on_both_sides_of_summer_time() -> None:
    schedule = Schedule("monthly", ATHENS, time(0, 0), timedelta(minutes=60), day=1)
    march = schedule.latest(utc("2027-03-15T00:00:00"))
    april = schedule.latest(utc("2027-04-15T00:00:00"))
    assert march.due == utc("2027-02-28T22:00:00")  # 1 March 00:00 EET (UTC+2)
    assert april.due == utc("2027-03-31T21:00:00")  # 1 April 00:00 EEST (UTC+3)
    assert schedule.latest(utc("2027-03-31T20:59:59")).key == "2027-03"
    assert schedule.latest(utc("2027-03-31T21:00:00")).key == "2027-04"
    assert april.deadline == utc("2027-03-31T22:00:00")


# --- time zones and clock settings -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("+02:00", timedelta(hours=2)),
        ("UTC+2", timedelta(hours=2)),
        ("GMT-0530", -timedelta(hours=5, minutes=30)),
        ("-03:30", -timedelta(hours=3, minutes=30)),
        ("UTC", timedelta(0)),
        ("Z", timedelta(0)),
    ],
)
def test_fixed_offsets(text: str, offset: timedelta) -> None:
    zone = parse_timezone(text)
    assert zone.utcoffset(datetime(2027, 7, 1)) == offset
    assert zone.utcoffset(datetime(2027, 1, 1)) == offset  # no daylight saving


def test_iana_names() -> None:
    zone = parse_timezone("Europe/Athens")
    assert zone.utcoffset(datetime(2027, 1, 1)) == timedelta(hours=2)
    assert zone.utcoffset(datetime(2027, 7, 1)) == timedelta(hours=3)


@pytest.mark.parametrize("text", ["Mars/Olympus", "+15:00", "10 o'clock", "../etc/passwd"])
def test_bad_time_zones_are_refused(text: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_timezone(text)


def test_clock_times() -> None:
    assert parse_clock("10:00") == time(10, 0)
    assert parse_clock(" 0:05 ") == time(0, 5)
    for bad in ("10", "25:00", "10:60", "ten:00"):
        with pytest.raises(InvalidArgument):
            parse_clock(bad)


def test_defaults_are_the_seeds() -> None:
    settings = load_settings(env={"CERTDESK_HOME": "/nonexistent/certdesk"})
    config = report_config(settings)
    now = utc("2027-03-10T08:00:00")
    assert config.tz.utcoffset(now) == timedelta(hours=2)
    daily, monthly = (kind.schedule for kind in config.kinds)
    assert [kind.name for kind in config.kinds] == list(KIND_NAMES)
    assert (daily.kind, daily.at, daily.window) == ("daily", time(10), timedelta(minutes=30))
    assert (monthly.kind, monthly.at, monthly.window, monthly.day) == (
        "monthly",
        time(0),
        timedelta(hours=1),
        1,
    )
    assert [kind.window_text for kind in config.kinds] == [
        "expiring in the next 3 days",
        "expiring in 30 to 60 days",
    ]
    assert config.send_empty is False
    assert config.operator_emails == ()


def test_settings_from_the_environment() -> None:
    settings = load_settings(
        env={
            "CERTDESK_HOME": "/nonexistent/certdesk",
            "CERTDESK_REPORT_TIMEZONE": "Europe/Athens",
            "CERTDESK_DAILY_TIME": "07:15",
            "CERTDESK_OPERATOR_EMAILS": "noc@platform.test, ops@platform.test ,",
            "CERTDESK_SEND_EMPTY_REPORTS": "yes",
            "CERTDESK_DAILY_DAYS": "5",
        }
    )
    assert isinstance(settings, Settings)
    config = report_config(settings)
    assert config.tz == ZoneInfo("Europe/Athens")
    assert config.kinds[0].schedule.at == time(7, 15)
    assert config.operator_emails == ("noc@platform.test", "ops@platform.test")
    assert config.send_empty is True
    assert config.kinds[0].window_text == "expiring in the next 5 days"


# --- the windows -------------------------------------------------------------------------

AT = utc("2027-03-10T08:00:00")
S = timedelta(seconds=1)
DAY = timedelta(days=1)


# Which expiry dates each window lists, to the second and with other settings, is tested
# through the real selection: tests/reports/test_select.py.


@pytest.mark.parametrize(
    ("not_after", "expired"),
    [
        (AT - DAY, True),
        (AT - S, True),
        (AT, True),  # expiring exactly now is expired
        (AT + S, False),
    ],
)
def test_expired_to_the_second(not_after: datetime, expired: bool) -> None:
    assert is_expired(not_after, AT) is expired
