"""A calendar feed (.ics, RFC 5545) of units' due days and reminder days, with ``icalendar``.

The events are :func:`schedules.feeds.feed_events`: each task's due day (moved by an approved
extension), an all-day event (``DTSTART;VALUE=DATE``, ``DTEND`` the next day), and each
reminder, at its time in the office's time zone (``DTSTART;TZID=``, with the zone's
``VTIMEZONE``). Titles and descriptions are in the reader's language. UIDs are
stable (cycle, task, unit, kind, the reminder's offset), so importing a newer file updates the
events rather than adding copies; a reminder the bot will not send (the unit reported the task
done, or another reminder falls on its day) is written ``STATUS:CANCELLED`` under its UID with a
higher ``SEQUENCE``, so that a re-import removes what an earlier file added (the rule:
:mod:`schedules.feeds`). Nothing here talks to Telegram or the database::

    events = feed_events(timetable, cycle, caller.units, calendar, zone, facts=facts)
    data = build_calendar(t, timetable, events, cycle, now)
    await message.reply_document(data, filename=calendar_filename(cycle, "mine"))

icalendar is imported inside :func:`build_calendar`, so that ``duban --help`` stays quick.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from bot.i18n import N_, Translator
from bot.render import plain_unit_name, role_label
from schedules.feeds import Cancelled, EventKind, FeedEvent
from schedules.model import Timetable

PRODUCT_ID = "-//duban//duban 督办 calendar feed//ZH"

DUE_TITLE = N_("Task {number} due: {unit}")
DUE_EXTENDED_TITLE = N_("Task {number} due (extended): {unit}")
REMINDER_TITLE = N_("Reminder of task {number}: {unit}")


def calendar_filename(cycle: int, who: str) -> str:
    """The feed's file name, e.g. ``duban-calendar-2026-agriculture-rural.ics``."""
    return f"duban-calendar-{cycle}-{who}.ics"


def event_title(t: Translator, timetable: Timetable, event: FeedEvent) -> str:
    """An event's title (SUMMARY) in the reader's language."""
    unit = plain_unit_name(t, timetable.unit(event.unit_id))
    if event.kind is EventKind.REMINDER:
        template = REMINDER_TITLE
    else:
        template = DUE_EXTENDED_TITLE if event.extended else DUE_TITLE
    return t.gettext(template).format(number=event.task_id, unit=unit)


def event_description(t: Translator, timetable: Timetable, event: FeedEvent) -> str:
    """An event's description: the task, the unit's duty, the due date and, after an
    extension, the timetable's."""
    task = timetable.task(event.task_id)
    lines = [t.gettext("Task {number}: {title}").format(number=task.id, title=task.title),
             t.gettext("{unit}: {role}").format(
                 unit=plain_unit_name(t, timetable.unit(event.unit_id)),
                 role=role_label(t, event.role)),
             t.gettext("Due by {date}.").format(date=t.date(event.due))]
    if event.extended:
        lines.append(t.gettext("Extended; the timetable's due date was {date}.").format(
            date=t.date(event.planned_due)))
    if event.cancelled is Cancelled.FINISHED:
        lines.append(t.gettext("Cancelled: the unit reported the task done, so duban sends no "
                               "more reminders of it."))
    elif event.cancelled is Cancelled.MERGED:
        lines.append(t.gettext("Cancelled: another reminder of the task falls on this day; "
                               "duban sends that one."))
    elif event.kind is EventKind.REMINDER:
        lines.append(t.gettext("duban reminds the unit's contacts on this day; report with the "
                               "buttons under the reminder, or /report."))
    return "\n".join(lines)


def live_events(events: Sequence[FeedEvent]) -> list[FeedEvent]:
    """The events the bot will act on (the cancelled ones left out): what a reader counts."""
    return [e for e in events if not e.cancelled]


def build_calendar(t: Translator, timetable: Timetable, events: Sequence[FeedEvent],
                   cycle: int, now: dt.datetime, name: str = "") -> bytes:
    """The events as an iCalendar file.

    Args:
        t: the reader's translator (titles, descriptions, the calendar's name).
        timetable: the timetable.
        events: the feed's events (:func:`schedules.feeds.feed_events`), times aware in the
            office's time zone (a ``zoneinfo`` zone, so that its VTIMEZONE can be written).
        cycle: the cycle year, for the calendar's name.
        now: the export's instant (DTSTAMP), aware.
        name: who the calendar is for (units' names), shown in its name.

    Returns:
        The bytes of an ``.ics`` file (UTF-8, CRLF lines).

    Raises:
        ValueError: ``now`` or an event's time is naive.
    """
    from icalendar import Calendar, Event

    if now.tzinfo is None or any(e.start.tzinfo is None for e in events):
        raise ValueError("calendar times must be aware")
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    title = t.gettext("duban: cutoffs of cycle {year}").format(year=cycle)
    calendar.add("x-wr-calname", f"{title} · {name}" if name else title)
    if events:
        calendar.add("x-wr-timezone", str(events[0].start.tzinfo))
    stamp = now.astimezone(dt.UTC)
    for event in events:
        entry = Event()
        entry.add("uid", event.uid)
        entry.add("dtstamp", stamp)
        if event.all_day:  # DTSTART;VALUE=DATE: the day itself, in every time zone
            entry.add("dtstart", event.day)
            entry.add("dtend", event.day + dt.timedelta(days=1))
        else:
            entry.add("dtstart", event.start)
            entry.add("dtend", event.end)
        entry.add("summary", event_title(t, timetable, event))
        entry.add("description", event_description(t, timetable, event))
        entry.add("sequence", event.sequence)
        # CANCELLED: a calendar that imported this UID before removes it (RFC 5545 3.8.1.11)
        entry.add("status", "CANCELLED" if event.cancelled else "CONFIRMED")
        entry.add("transp", "TRANSPARENT")  # a reminder, not a meeting: the time stays free
        entry.add("categories", ["duban"])
        calendar.add_component(entry)
    if events:  # VTIMEZONE of every zone used, for the cycle's span only
        calendar.add_missing_timezones(first_date=dt.date(cycle - 1, 1, 1),
                                       last_date=dt.date(cycle + 2, 1, 1))
    return bytes(calendar.to_ical())
