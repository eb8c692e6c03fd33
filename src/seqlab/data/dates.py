"""Human-readable dates paired with ISO dates: the course's attention example (week 3).

The task is *date normalisation*: read a date as people write it and answer its ISO 8601 form
``YYYY-MM-DD``::

    "July 20th 1969"          -> "1969-07-20"
    "20.07.69"                -> "1969-07-20"
    "Sunday, 20 July 1969"    -> "1969-07-20"
    "the 4th of July, 1776"   -> "1776-07-04"
    "Oct. 28th 1886"          -> "1886-10-28"
    "23 April, 1564"          -> "1564-04-23"

Everything is generated here, seeded and reproducible, with English month and weekday names
written in this module (no locale, no babel):

* a written form is drawn uniformly from :data:`FORMATS` (44 forms: month names in full,
  three-letter, dotted "Jan." and the newspaper style "Sept." / "March", ordinals, "the 4th
  of July, 1776", weekdays, e-mail and JavaScript forms, numeric forms); a weekday, when
  written, is the date's true weekday;
* years run from 1000 to 2999 (:data:`FIRST_DATE` .. :data:`LAST_DATE`): a four-digit form
  draws its date uniformly from the recent years :data:`RECENT_YEARS` (1900-2099, what people
  write most) with probability :data:`RECENT_SHARE`, else uniformly from the whole range.
  Dates are those of :mod:`datetime`: the *proleptic Gregorian* calendar extended back before
  1582, so a weekday written beside an old date is the Gregorian one, and a date written in
  the Julian calendar (England's before 1752) is normalised digit for digit, not converted;
* **two-digit years** follow the POSIX ``strptime("%y")`` pivot: ``69``-``99`` mean
  1969-1999 and ``00``-``68`` mean 2000-2068. A format with a two-digit year draws its date
  from 1969-2068 only (:data:`TWO_DIGIT_YEARS`), so every source string has exactly one
  reading;
* slashes are American, month first (``7/20/69``); dots and dashes between numbers are
  European, day first (``20.07.69``, ``20-07-1969``); year-first forms are ISO-like
  (``1969/07/20``, ``1969-07-20``); so numeric forms are never ambiguous either;
* then, as people type: the whole string is lower-cased (:data:`LOWER_SHARE`) or upper-cased
  (:data:`UPPER_SHARE`) now and then ("JULY 4 1776", "july 4th 1776"), and a space is doubled
  (:data:`DOUBLE_SPACE_SHARE`, "July 4,  1776") or the space after a comma dropped
  (:data:`NO_SPACE_AFTER_COMMA_SHARE`, "Oct 28,1886"). :func:`format_date` writes a format
  as it is; only the generated pairs vary.

The held-out test set (:func:`test_pairs`) is fixed: :data:`TEST_SEED`, :data:`TEST_SIZE`.
Training and validation pairs (:func:`generate_pairs`) never contain a test *source string*:
the generator skips them, whatever its seed, so a model's test accuracy is measured on
strings it never saw (the same date may be seen written another way, as in the course).

Tested in ``tests/test_dates.py`` against an independent ``datetime.strptime`` parser per
format, and on ``tests/golden/real_dates.tsv``, dates written by hand as people write them.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

__all__ = [
    "DOUBLE_SPACE_SHARE",
    "FIRST_DATE",
    "FORMATS",
    "LAST_DATE",
    "LOWER_SHARE",
    "MONTHS",
    "NO_SPACE_AFTER_COMMA_SHARE",
    "RECENT_SHARE",
    "RECENT_YEARS",
    "TEST_SEED",
    "TEST_SIZE",
    "TWO_DIGIT_YEARS",
    "UPPER_SHARE",
    "VALID_SEED",
    "WEEKDAYS",
    "DateFormat",
    "format_date",
    "generate_pairs",
    "iter_pairs",
    "test_pairs",
    "valid_pairs",
]

MONTHS: tuple[str, ...] = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# Abbreviations with a full stop, the months that are shortened: "Jan." ... "May" ... "Dec.".
_DOTTED = tuple(m if len(m) <= 3 else f"{m[:3]}." for m in MONTHS)
# The newspaper (AP) style: "Jan." "Feb." "Aug." "Sept." "Oct." "Nov." "Dec.", the other
# five in full ("March", "April", "May", "June", "July").
_NEWSPAPER = tuple(
    {"January": "Jan.", "February": "Feb.", "August": "Aug.", "September": "Sept."}.get(
        m, f"{m[:3]}." if m in ("October", "November", "December") else m
    )
    for m in MONTHS
)
# Three letters, but "Sept" for September (British usage).
_SEPT = tuple("Sept" if m == "September" else m[:3] for m in MONTHS)
# Monday first, as datetime.date.weekday() counts.
WEEKDAYS: tuple[str, ...] = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)

FIRST_DATE = dt.date(1000, 1, 1)  # earliest date generated
LAST_DATE = dt.date(2999, 12, 31)  # latest date generated
RECENT_YEARS = (1900, 2099)  # the years people write most ...
RECENT_SHARE = 0.5  # ... drawn this often by a four-digit form (else the whole range)
TWO_DIGIT_YEARS = (1969, 2068)  # years a two-digit year can stand for (POSIX %y pivot)
LOWER_SHARE = 0.06  # generated sources lower-cased ("july 4th 1776")
UPPER_SHARE = 0.04  # generated sources upper-cased ("JULY 4 1776")
DOUBLE_SPACE_SHARE = 0.04  # generated sources with one space doubled ("July 4,  1776")
NO_SPACE_AFTER_COMMA_SHARE = 0.03  # ... with the space after a comma dropped ("Oct 28,1886")

TEST_SEED = 20_240_720  # seed of the fixed held-out test set
TEST_SIZE = 2_000  # pairs in the held-out test set
VALID_SEED = 7_777  # seed of the default validation set (disjoint from the test set too)

Case = Literal["as-is", "lower", "upper"]
_JULY_20_1969 = dt.date(1969, 7, 20)


@dataclass(frozen=True)
class DateFormat:
    """One written form of a date.

    ``pattern`` is a :meth:`str.format` template over these fields: ``Y`` year (1969),
    ``yy`` two-digit year (69), ``m``/``mm`` month (7/07), ``d``/``dd`` day (5/05),
    ``do`` ordinal day (5th), ``B``/``b`` month name (July/Jul), ``bd`` dotted abbreviation
    (Jul., May), ``bp`` newspaper style (Sept., July), ``bs`` three letters or Sept (Jul,
    Sept), ``A``/``a`` weekday (Sunday/Sun). ``case`` then lower- or upper-cases the whole
    string. ``name`` is ``example`` written in this format: 1969-07-20, or 1969-09-20 for
    the forms that differ from others only in how they shorten September.
    """

    name: str  # ``example`` written in this format (a readable, unique key)
    pattern: str  # str.format template, fields above
    case: Case = "as-is"  # "lower", "upper" or "as-is"
    example: dt.date = _JULY_20_1969  # the date ``name`` writes

    @property
    def two_digit_year(self) -> bool:
        """True when the year is written with two digits (only 1969-2068 then)."""
        return "{yy}" in self.pattern

    def render(self, date: dt.date) -> str:
        """``date`` written in this format."""
        if self.two_digit_year and not TWO_DIGIT_YEARS[0] <= date.year <= TWO_DIGIT_YEARS[1]:
            raise ValueError(
                f"{self.name!r} writes two-digit years, which stand for "
                f"{TWO_DIGIT_YEARS[0]}-{TWO_DIGIT_YEARS[1]} only; got {date.isoformat()}"
            )
        month, weekday = MONTHS[date.month - 1], WEEKDAYS[date.weekday()]
        text = self.pattern.format(
            Y=f"{date.year:04d}",
            yy=f"{date.year % 100:02d}",
            m=str(date.month),
            mm=f"{date.month:02d}",
            d=str(date.day),
            dd=f"{date.day:02d}",
            do=_ordinal(date.day),
            B=month,
            b=month[:3],
            bd=_DOTTED[date.month - 1],
            bp=_NEWSPAPER[date.month - 1],
            bs=_SEPT[date.month - 1],
            A=weekday,
            a=weekday[:3],
        )
        if self.case == "lower":
            return text.lower()
        if self.case == "upper":
            return text.upper()
        return text


def _ordinal(day: int) -> str:
    """1st 2nd 3rd 4th ... 11th 12th 13th ... 21st 22nd 23rd ... 31st."""
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


_SEPTEMBER_20_1969 = dt.date(1969, 9, 20)
_FORMAT_LIST: tuple[DateFormat, ...] = (
    # month first
    DateFormat("July 20th 1969", "{B} {do} {Y}"),
    DateFormat("July 20th, 1969", "{B} {do}, {Y}"),
    DateFormat("July 20, 1969", "{B} {d}, {Y}"),
    DateFormat("July 20 1969", "{B} {d} {Y}"),
    DateFormat("jul 20 1969", "{b} {d} {Y}", "lower"),
    DateFormat("Jul 20, 1969", "{b} {d}, {Y}"),
    DateFormat("Jul. 20, 1969", "{bd} {d}, {Y}"),
    DateFormat("Sept. 20, 1969", "{bp} {d}, {Y}", example=_SEPTEMBER_20_1969),
    DateFormat("Sept. 20th 1969", "{bp} {do} {Y}", example=_SEPTEMBER_20_1969),
    # day first
    DateFormat("20 July 1969", "{d} {B} {Y}"),
    DateFormat("20 july 1969", "{d} {B} {Y}", "lower"),
    DateFormat("20 July, 1969", "{d} {B}, {Y}"),
    DateFormat("20th July 1969", "{do} {B} {Y}"),
    DateFormat("20th July, 1969", "{do} {B}, {Y}"),
    DateFormat("20th of July 1969", "{do} of {B} {Y}"),
    DateFormat("the 20th of July 1969", "the {do} of {B} {Y}"),
    DateFormat("the 20th of July, 1969", "the {do} of {B}, {Y}"),
    DateFormat("The 20th of July, 1969", "The {do} of {B}, {Y}"),
    DateFormat("20 Jul 1969", "{d} {b} {Y}"),
    DateFormat("20 JUL 1969", "{dd} {b} {Y}", "upper"),
    DateFormat("20 Sept 1969", "{d} {bs} {Y}", example=_SEPTEMBER_20_1969),
    DateFormat("20-Jul-1969", "{dd}-{b}-{Y}"),
    DateFormat("20-jul-69", "{dd}-{b}-{yy}", "lower"),
    # with the weekday
    DateFormat("Sunday, 20 July 1969", "{A}, {d} {B} {Y}"),
    DateFormat("Sunday 20th July 1969", "{A} {do} {B} {Y}"),
    DateFormat("Sunday July 20 1969", "{A} {B} {d} {Y}"),
    DateFormat("Sunday, July 20, 1969", "{A}, {B} {d}, {Y}"),
    DateFormat("Sunday, July 20th, 1969", "{A}, {B} {do}, {Y}"),
    DateFormat("Sun 20 Jul 1969", "{a} {d} {b} {Y}"),
    DateFormat("Sun, 20 Jul 1969", "{a}, {dd} {b} {Y}"),  # e-mail (RFC 5322)
    DateFormat("Sun Jul 20 1969", "{a} {b} {dd} {Y}"),  # JavaScript's toDateString()
    DateFormat("sun, jul 20, 1969", "{a}, {b} {d}, {Y}", "lower"),
    DateFormat("SUNDAY 20 JULY 1969", "{A} {d} {B} {Y}", "upper"),
    # numbers: dots and dashes day first, slashes month first, year first as in ISO
    DateFormat("20.07.69", "{dd}.{mm}.{yy}"),
    DateFormat("20.7.1969", "{d}.{m}.{Y}"),
    DateFormat("20.07.1969", "{dd}.{mm}.{Y}"),
    DateFormat("20. 7. 1969", "{d}. {m}. {Y}"),
    DateFormat("20-07-1969", "{dd}-{mm}-{Y}"),
    DateFormat("7/20/69", "{m}/{d}/{yy}"),
    DateFormat("07/20/1969", "{mm}/{dd}/{Y}"),
    DateFormat("7/20/1969", "{m}/{d}/{Y}"),
    DateFormat("1969/07/20", "{Y}/{mm}/{dd}"),
    DateFormat("1969-07-20", "{Y}-{mm}-{dd}"),
    DateFormat("19690720", "{Y}{mm}{dd}"),
)
# Every written form, by name (its example date written that way).
FORMATS: dict[str, DateFormat] = {f.name: f for f in _FORMAT_LIST}


def _days(first_year: int, last_year: int) -> tuple[dt.date, int]:
    """(1 January of ``first_year``, days up to 31 December of ``last_year``)."""
    first = dt.date(first_year, 1, 1)
    return first, (dt.date(last_year, 12, 31) - first).days + 1


_WHOLE = _days(FIRST_DATE.year, LAST_DATE.year)
_RECENT = _days(*RECENT_YEARS)
_TWO_DIGIT = _days(*TWO_DIGIT_YEARS)


def format_date(date: dt.date, fmt: str | DateFormat) -> str:
    """``date`` written in ``fmt`` (a :class:`DateFormat` or a key of :data:`FORMATS`)."""
    if isinstance(fmt, str):
        if fmt not in FORMATS:
            raise ValueError(f"unknown date format {fmt!r}; choose from {list(FORMATS)}")
        fmt = FORMATS[fmt]
    return fmt.render(date)


def _vary(text: str, rng: random.Random) -> str:
    """``text`` as people type it now and then: its case, then its spacing (module doc)."""
    draw = rng.random()
    if draw < LOWER_SHARE:
        text = text.lower()
    elif draw < LOWER_SHARE + UPPER_SHARE:
        text = text.upper()
    draw = rng.random()
    if draw < DOUBLE_SPACE_SHARE and " " in text:
        parts = text.split(" ")
        i = rng.randrange(len(parts) - 1)
        text = " ".join(parts[: i + 1]) + "  " + " ".join(parts[i + 1 :])
    elif DOUBLE_SPACE_SHARE <= draw < DOUBLE_SPACE_SHARE + NO_SPACE_AFTER_COMMA_SHARE:
        text = text.replace(", ", ",", 1)
    return text


def _random_example(rng: random.Random) -> tuple[str, str]:
    """One (human-readable, ISO) pair: a uniform format, a date in its range, the variation."""
    fmt = _FORMAT_LIST[rng.randrange(len(_FORMAT_LIST))]
    if fmt.two_digit_year:
        first, span = _TWO_DIGIT
    else:
        first, span = _RECENT if rng.random() < RECENT_SHARE else _WHOLE
    date = first + dt.timedelta(days=rng.randrange(span))
    return _vary(fmt.render(date), rng), date.isoformat()


def iter_pairs(seed: int, *, exclude: Collection[str] = ()) -> Iterator[tuple[str, str]]:
    """An endless, reproducible stream of (human-readable, ISO) pairs for ``seed``.

    Sources in ``exclude`` are skipped. Repeats are possible (the stream is i.i.d.).
    """
    rng = random.Random(seed)
    while True:
        src, iso = _random_example(rng)
        if src not in exclude:
            yield src, iso


@lru_cache(maxsize=4)
def _test_pairs(size: int) -> tuple[tuple[str, str], ...]:
    stream = iter_pairs(TEST_SEED)
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    while len(out) < size:
        src, iso = next(stream)
        if src not in seen:  # distinct source strings
            seen.add(src)
            out.append((src, iso))
    return tuple(out)


def test_pairs(size: int = TEST_SIZE) -> list[tuple[str, str]]:
    """The fixed held-out test set: ``size`` distinct sources drawn with :data:`TEST_SEED`.

    A smaller ``size`` gives a prefix of the full set.
    """
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    return list(_test_pairs(size))


@lru_cache(maxsize=1)
def _test_sources() -> frozenset[str]:
    return frozenset(src for src, _ in _test_pairs(TEST_SIZE))


def generate_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (human-readable, ISO) training pairs, reproducible for ``seed``.

    No source string of the held-out test set (:func:`test_pairs`) is ever emitted, whatever
    the seed.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if seed == TEST_SEED:
        raise ValueError(f"seed {TEST_SEED} is reserved for the held-out test set")
    stream = iter_pairs(seed, exclude=_test_sources())
    return [next(stream) for _ in range(n)]


def valid_pairs(n: int = 1_000) -> list[tuple[str, str]]:
    """A validation set of ``n`` pairs (:data:`VALID_SEED`), also free of test sources."""
    return generate_pairs(n, VALID_SEED)


# ``test_pairs`` is data, not a pytest test.
test_pairs.__test__ = False  # type: ignore[attr-defined]
