"""The date-normalisation generator: every format parses back, weekdays are true, the
held-out set is fixed and disjoint from training data."""

from __future__ import annotations

import datetime as dt
import random
import re

import pytest

from seqlab.data import dates
from seqlab.data.dates import FORMATS, format_date, generate_pairs, test_pairs

# The independent reference: each format's strptime pattern, written by hand. Ordinal
# suffixes (st/nd/rd/th after a number) are removed before parsing. strptime's %y is the
# POSIX pivot (69-99 -> 19xx, 00-68 -> 20xx), the century rule dates.py documents.
STRPTIME = {
    "July 20th 1969": "%B %d %Y",
    "July 20, 1969": "%B %d, %Y",
    "July 20 1969": "%B %d %Y",
    "20 July 1969": "%d %B %Y",
    "20 july 1969": "%d %B %Y",
    "20 July, 1969": "%d %B, %Y",
    "20th July 1969": "%d %B %Y",
    "the 20th of July 1969": "the %d of %B %Y",
    "20 JUL 1969": "%d %b %Y",
    "20 Jul 1969": "%d %b %Y",
    "jul 20 1969": "%b %d %Y",
    "Jul 20, 1969": "%b %d, %Y",
    "Jul. 20, 1969": "%b. %d, %Y",
    "20-Jul-1969": "%d-%b-%Y",
    "20-jul-69": "%d-%b-%y",
    "Sunday, 20 July 1969": "%A, %d %B %Y",
    "Sunday July 20 1969": "%A %B %d %Y",
    "Sunday, July 20th, 1969": "%A, %B %d, %Y",
    "Sun 20 Jul 1969": "%a %d %b %Y",
    "sun, jul 20, 1969": "%a, %b %d, %Y",
    "SUNDAY 20 JULY 1969": "%A %d %B %Y",
    "20.07.69": "%d.%m.%y",
    "20.7.1969": "%d.%m.%Y",
    "20.07.1969": "%d.%m.%Y",
    "7/20/69": "%m/%d/%y",
    "07/20/1969": "%m/%d/%Y",
    "7/20/1969": "%m/%d/%Y",
    "1969/07/20": "%Y/%m/%d",
    "19690720": "%Y%m%d",
}
_ORDINAL = re.compile(r"(?<=\d)(st|nd|rd|th)\b", re.IGNORECASE)
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def parse(text: str, name: str) -> dt.date:
    return dt.datetime.strptime(_ORDINAL.sub("", text), STRPTIME[name]).date()


def written_weekday(text: str) -> int | None:
    """The weekday named in ``text`` (full or three-letter), Monday = 0; None if none."""
    words = re.findall(r"[a-z]+", text.lower())
    for i, day in enumerate(_WEEKDAYS):
        if day in words or day[:3] in words:
            return i
    return None


def sample_dates(n: int, seed: int) -> list[dt.date]:
    rng = random.Random(seed)
    span = (dates.LAST_DATE - dates.FIRST_DATE).days
    edges = [dates.FIRST_DATE, dates.LAST_DATE, dt.date(1969, 7, 20), dt.date(2000, 2, 29)]
    return edges + [dates.FIRST_DATE + dt.timedelta(rng.randrange(span + 1)) for _ in range(n)]


# -- formats ----------------------------------------------------------------------------


def test_the_reference_covers_every_format() -> None:
    assert set(STRPTIME) == set(FORMATS)


def test_format_names_are_july_20th_1969_written_that_way() -> None:
    for name, fmt in FORMATS.items():
        assert fmt.render(dt.date(1969, 7, 20)) == name


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_parses_back_to_its_date(name: str) -> None:
    fmt = FORMATS[name]
    for date in sample_dates(300, seed=len(name)):
        if fmt.two_digit_year and not 1969 <= date.year <= 2068:
            with pytest.raises(ValueError, match="two-digit years"):
                fmt.render(date)
            continue
        text = fmt.render(date)
        assert parse(text, name) == date, (name, text)


@pytest.mark.parametrize("name", [n for n in sorted(FORMATS) if written_weekday(n) is not None])
def test_written_weekdays_are_true_weekdays(name: str) -> None:
    for date in sample_dates(300, seed=1):
        assert written_weekday(format_date(date, name)) == date.weekday()


def test_ordinals() -> None:
    days = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th"}
    days |= {21: "21st", 22: "22nd", 23: "23rd", 30: "30th", 31: "31st"}
    for day, written in days.items():
        assert format_date(dt.date(2001, 1, day), "20th July 1969") == f"{written} January 2001"


def test_unknown_format_names_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown date format"):
        format_date(dt.date(2000, 1, 1), "%Y")


# -- the generator ----------------------------------------------------------------------


def test_generated_pairs_parse_back_and_cover_the_range() -> None:
    pairs = generate_pairs(3000, seed=5)
    years = []
    for src, iso in pairs:
        date = dt.date.fromisoformat(iso)
        assert dates.FIRST_DATE <= date <= dates.LAST_DATE
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", iso)
        assert any(_parses_as(src, name, date) for name in FORMATS), src
        weekday = written_weekday(src)
        assert weekday is None or weekday == date.weekday(), src
        years.append(date.year)
    assert min(years) < 1910 and max(years) > 2090  # uniform over 1900-2099


def _parses_as(src: str, name: str, date: dt.date) -> bool:
    try:
        return parse(src, name) == date
    except ValueError:
        return False


def test_every_source_has_one_reading() -> None:
    # no generated string parses to two different dates under two formats
    for src, iso in generate_pairs(2000, seed=9):
        readings = set()
        for name in FORMATS:
            try:
                readings.add(parse(src, name))
            except ValueError:
                pass
        assert readings == {dt.date.fromisoformat(iso)}, src


def test_every_format_is_used() -> None:
    seen = set()
    for src, iso in generate_pairs(5000, seed=3):
        date = dt.date.fromisoformat(iso)
        seen |= {name for name in FORMATS if src in _renderings(date, name)}
    assert seen == set(FORMATS)


def _renderings(date: dt.date, name: str) -> list[str]:
    try:
        return [format_date(date, name)]
    except ValueError:  # a two-digit year outside 1969-2068
        return []


def test_generator_is_reproducible_for_a_seed() -> None:
    assert generate_pairs(500, seed=42) == generate_pairs(500, seed=42)
    assert generate_pairs(500, seed=42) != generate_pairs(500, seed=43)
    assert generate_pairs(100, seed=42) == generate_pairs(500, seed=42)[:100]


def test_held_out_set_is_fixed_distinct_and_disjoint_from_training() -> None:
    test = test_pairs()
    assert len(test) == dates.TEST_SIZE
    assert test == test_pairs() and test[:50] == test_pairs(50)
    sources = {src for src, _ in test}
    assert len(sources) == len(test)  # distinct sources
    assert test[0] == _first_test_pair()
    for seed in (0, 1, 2):
        train = generate_pairs(20_000, seed=seed)
        assert not sources & {src for src, _ in train}
    assert not sources & {src for src, _ in dates.valid_pairs()}


def _first_test_pair() -> tuple[str, str]:
    """The held-out set's first pair, drawn independently with random.Random(TEST_SEED)."""
    rng = random.Random(dates.TEST_SEED)
    date = dates.FIRST_DATE + dt.timedelta(days=rng.randrange(73049))
    fmt = list(FORMATS.values())[rng.randrange(len(FORMATS))]
    if fmt.two_digit_year and not 1969 <= date.year <= 2068:
        four = [f for f in FORMATS.values() if not f.two_digit_year]
        fmt = four[rng.randrange(len(four))]
    return fmt.render(date), date.isoformat()


def test_training_data_would_contain_test_sources_without_the_exclusion() -> None:
    # the exclusion matters: the raw stream does emit held-out strings (common short forms)
    sources = {src for src, _ in test_pairs()}
    stream = dates.iter_pairs(0)
    assert any(next(stream)[0] in sources for _ in range(200_000))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="reserved"):
        generate_pairs(5, seed=dates.TEST_SEED)
    with pytest.raises(ValueError):
        generate_pairs(-1)
    with pytest.raises(ValueError):
        test_pairs(0)
