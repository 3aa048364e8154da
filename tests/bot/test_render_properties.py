"""Properties of the page splitter and the renderers, for any text (hypothesis).

Every page :func:`bot.render.paginate` makes must be a message Telegram takes: it parses as
Telegram HTML (the stand-in's parser, which refuses what Telegram refuses), it is not empty, and
it shows at most ``limit`` UTF-16 code units; read one after the other, the pages show exactly
the input's text, less the line breaks where a page ends. The renderers, given names and notes
full of ``<``, ``&`` and emoji, make HTML that parses.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from html import escape

from hypothesis import example, given
from hypothesis import strategies as st

from bot.i18n import translator
from bot.render import (
    MESSAGE_LIMIT,
    paginate,
    render_overdue,
    render_summary,
    render_task,
    render_unit,
    report_line,
)
from bot_api_standin import parse_html
from bot_api_standin.spec import utf16_len
from schedules.model import Deadline, DeadlineKind, PlanInfo, Task, Timetable, Unit, UnitKind

SHANGHAI = dt.timezone(dt.timedelta(hours=8))

# -- Telegram HTML of any shape -------------------------------------------------------------------
ODD_CHARACTERS = ("<", ">", "&", '"', "'", "😀", "👍🏽", "👨‍👩‍👧", "\u200b", "字", "é", "\t",
                  " ", "\n", "\n\n", "\u2028", "𝕏")


def character() -> st.SearchStrategy[str]:
    return st.one_of(st.characters(exclude_categories=("Cs",)), st.sampled_from(ODD_CHARACTERS))


def escaped(chars: str) -> st.SearchStrategy[str]:
    """Characters written in any of the ways Telegram HTML allows, each its own way."""

    def one(char: str) -> st.SearchStrategy[str]:
        if char == "\x00":
            return st.just("&#xFFFD;")
        ways = [st.just(escape(char, quote=False)), st.just(f"&#{ord(char)};"),
                st.just(f"&#x{ord(char):X};")]
        if char == '"':
            ways.append(st.just("&quot;"))
        return st.one_of(ways)

    return st.tuples(*(one(char) for char in chars)).map("".join)


def plain() -> st.SearchStrategy[str]:
    """Escaped text: lines of any length, any characters, any escaping."""
    return st.lists(character().flatmap(escaped), max_size=40).map("".join)


TAGS = (("<b>", "</b>"), ("<i>", "</i>"), ("<u>", "</u>"), ("<s>", "</s>"),
        ("<code>", "</code>"), ("<tg-spoiler>", "</tg-spoiler>"),
        ('<span class="tg-spoiler">', "</span>"), ('<a href="https://example.org/?a=1&amp;b=2">',
                                                   "</a>"),
        ("<blockquote>", "</blockquote>"), ('<pre><code class="language-python">',
                                            "</code></pre>"))


def telegram_html() -> st.SearchStrategy[str]:
    """Escaped text with (nested) tags, as the renderers write it."""
    return st.recursive(
        plain(),
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=4).map("".join),
            st.tuples(st.sampled_from(TAGS), inner).map(lambda p: p[0][0] + p[1] + p[0][1]),
            st.tuples(inner, st.integers(1, 5)).map(lambda p: p[0] * p[1]),
        ),
        max_leaves=12)


def visible(html: str) -> str:
    """The text Telegram shows for ``html``."""
    return parse_html(html)[0]


def assert_good_pages(source: str, pages: list[str], limit: int) -> None:
    """Each page is a message Telegram takes; together they show the whole source.

    Telegram strips the white space around a message's text, so white space where one page
    ends and the next begins may go; nothing else may.
    """
    shown = visible(source)
    assert pages
    if not shown.strip():
        assert len(pages) == 1
        return
    position = 0
    for index, page in enumerate(pages):
        text = visible(page)  # raises if the page does not parse
        assert utf16_len(text) <= limit, (page, limit)
        assert text.strip(), f"page {index} of {len(pages)} shows nothing: {page!r}"
        while position < len(shown) and shown[position].isspace():
            position += 1
        assert shown.startswith(text.strip(), position), (index, text, shown[position:])
        position += len(text.strip())
    assert not shown[position:].strip(), shown[position:]


@given(telegram_html(), st.integers(2, 60))
@example("a" * 10 + "\n" + "<b></b>", 10)
@example("<b>" + "x" * 30 + "</b>\n\n\n" + "y" * 5, 10)
@example("&lt;" * 30, 7)
@example("😀" * 9, 5)
@example("ab\n \ncd", 3)
def test_pages_parse_fit_and_keep_every_character(source: str, limit: int) -> None:
    assert_good_pages(source, paginate(source, limit), limit)


@given(telegram_html())
def test_pages_at_telegrams_limit(source: str) -> None:
    big = (source + "\n") * 40
    assert_good_pages(big, paginate(big), MESSAGE_LIMIT)


def test_a_page_of_closing_tags_alone_is_not_sent() -> None:
    """The last page held only tags (nothing visible): Telegram refuses "message text is empty"."""
    source = "a" * 10 + "\n" + "<b></b>"
    assert paginate(source, 10) == ["a" * 10]


def test_a_page_of_white_space_alone_is_not_sent() -> None:
    """A page of blanks between two cuts is empty to Telegram, which strips it."""
    pages = paginate("ab\n \ncd", 3)
    assert all(page.strip() for page in pages), pages


# -- renderers ----------------------------------------------------------------------------------
@dataclass
class Report:
    status: str
    progress: int | None
    note: str
    reported_at: dt.datetime


names = st.text(min_size=1, max_size=30).filter(lambda s: s.strip())
notes = st.one_of(st.text(max_size=300), st.text(alphabet="<>&\"'😀 \n字", max_size=300))
reports = st.builds(Report, st.sampled_from(("done", "in_progress", "blocked", "not_applicable")),
                    st.one_of(st.none(), st.integers(0, 100)), notes,
                    st.datetimes(min_value=dt.datetime(2019, 1, 1),
                                 max_value=dt.datetime(2100, 1, 1),
                                 timezones=st.just(dt.UTC)))


@st.composite
def timetables(draw: st.DrawFn) -> Timetable:
    """Two bureaus and a town with any names; three tasks of each deadline kind."""
    unit_names = draw(st.lists(names, min_size=3, max_size=3))
    units = tuple(Unit(id=f"u{i}", name=name, name_en=name[::-1], kind=kind)
                  for i, (name, kind) in enumerate(zip(
                      unit_names, (UnitKind.BUREAU, UnitKind.BUREAU, UnitKind.TOWN),
                      strict=True)))
    deadlines = (Deadline(kind=DeadlineKind.ANNUAL, text="每年12月前"),
                 Deadline(kind=DeadlineKind.ONCE, year=2020, text="2020年12月前"),
                 Deadline(kind=DeadlineKind.STATISTICS))
    tasks = tuple(Task(id=i + 1, title=draw(names), items=(draw(names),),
                       lead_units=("u0",), cooperating_units=("u1", "u2"),
                       deadline=deadline, remark=draw(st.one_of(st.just(""), names)))
                  for i, deadline in enumerate(deadlines))
    return Timetable(plan=PlanInfo(title=draw(names)), units=units, tasks=tasks)


def assert_parses(html: str) -> None:
    parse_html(html)
    for page in paginate(html):
        assert visible(page).strip()


@given(timetables(), st.dictionaries(st.tuples(st.integers(1, 3),
                                               st.sampled_from(("u0", "u1", "u2"))),
                                     reports, max_size=6),
       st.sampled_from(("zh_Hans", "en")), st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31)))
def test_renderers_make_html_that_parses(timetable: Timetable,
                                         latest: dict[tuple[int, str], Report], language: str,
                                         today: dt.date) -> None:
    t = translator(language)
    cycle = today.year
    assert_parses(render_summary(t, timetable, cycle, latest, today))
    assert_parses(render_overdue(t, timetable, cycle, latest, today))
    for task in timetable.tasks:
        assert_parses(render_task(t, timetable, task, cycle, latest, today, latest))
    for unit in timetable.units:
        assert_parses(render_unit(t, timetable, unit, cycle, latest, today))
    for report in latest.values():
        assert_parses(report_line(t, report))
        assert_parses(report_line(t, report, None))


def test_a_character_reference_counts_as_the_character_telegram_shows() -> None:
    """``&#1;`` shows one character (``html.unescape`` says none): the page held three."""
    pages = paginate("00&#1;", 2)
    assert [utf16_len(visible(page)) for page in pages] == [2, 1]


def test_a_tag_with_a_greater_than_sign_in_an_attribute_is_one_tag() -> None:
    source = '<a href="https://example.org/?q=a>b">' + "x" * 10 + "</a>"
    pages = paginate(source, 4)
    assert_good_pages(source, pages, 4)
    assert all(page.startswith('<a href="https://example.org/?q=a>b">') for page in pages)
