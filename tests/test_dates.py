"""The date-normalisation generator: every format parses back, weekdays are true, the
held-out set is fixed and disjoint from training data."""

from __future__ import annotations

import datetime as dt
import random
import re
from pathlib import Path

import pytest

from seqlab.data import dates
from seqlab.data.dates import FORMATS, format_date, generate_pairs, test_pairs

# The independent reference: each format's strptime pattern, written by hand. Before
# parsing, `normalise` removes ordinal suffixes (st/nd/rd/th after a number) and the full
# stop after an abbreviated month, and spells September's "Sept" as strptime's "Sep". Where a
# style writes some months in full and others shortened ("Sept. 20", "March 20"), both
# patterns are listed; the spellings themselves are checked month by month below. strptime's
# %y is the POSIX pivot (69-99 -> 19xx, 00-68 -> 20xx), the century rule dates.py documents;
# its month and weekday names ignore case, and a space in a pattern matches any run of spaces.
STRPTIME: dict[str, tuple[str, ...]] = {
    "July 20th 1969": ("%B %d %Y",),
    "July 20th, 1969": ("%B %d, %Y",),
    "July 20, 1969": ("%B %d, %Y",),
    "July 20 1969": ("%B %d %Y",),
    "jul 20 1969": ("%b %d %Y",),
    "Jul 20, 1969": ("%b %d, %Y",),
    "Jul. 20, 1969": ("%b %d, %Y",),
    "Sept. 20, 1969": ("%b %d, %Y", "%B %d, %Y"),
    "Sept. 20th 1969": ("%b %d %Y", "%B %d %Y"),
    "20 July 1969": ("%d %B %Y",),
    "20 july 1969": ("%d %B %Y",),
    "20 July, 1969": ("%d %B, %Y",),
    "20th July 1969": ("%d %B %Y",),
    "20th July, 1969": ("%d %B, %Y",),
    "20th of July 1969": ("%d of %B %Y",),
    "the 20th of July 1969": ("the %d of %B %Y",),
    "the 20th of July, 1969": ("the %d of %B, %Y",),
    "The 20th of July, 1969": ("The %d of %B, %Y",),
    "20 Jul 1969": ("%d %b %Y",),
    "20 JUL 1969": ("%d %b %Y",),
    "20 Sept 1969": ("%d %b %Y",),
    "20-Jul-1969": ("%d-%b-%Y",),
    "20-jul-69": ("%d-%b-%y",),
    "Sunday, 20 July 1969": ("%A, %d %B %Y",),
    "Sunday 20th July 1969": ("%A %d %B %Y",),
    "Sunday July 20 1969": ("%A %B %d %Y",),
    "Sunday, July 20, 1969": ("%A, %B %d, %Y",),
    "Sunday, July 20th, 1969": ("%A, %B %d, %Y",),
    "Sun 20 Jul 1969": ("%a %d %b %Y",),
    "Sun, 20 Jul 1969": ("%a, %d %b %Y",),
    "Sun Jul 20 1969": ("%a %b %d %Y",),
    "sun, jul 20, 1969": ("%a, %b %d, %Y",),
    "SUNDAY 20 JULY 1969": ("%A %d %B %Y",),
    "20.07.69": ("%d.%m.%y",),
    "20.7.1969": ("%d.%m.%Y",),
    "20.07.1969": ("%d.%m.%Y",),
    "20. 7. 1969": ("%d. %m. %Y",),
    "20-07-1969": ("%d-%m-%Y",),
    "7/20/69": ("%m/%d/%y",),
    "07/20/1969": ("%m/%d/%Y",),
    "7/20/1969": ("%m/%d/%Y",),
    "1969/07/20": ("%Y/%m/%d",),
    "1969-07-20": ("%Y-%m-%d",),
    "19690720": ("%Y%m%d",),
}
_ORDINAL = re.compile(r"(?<=\d)(st|nd|rd|th)\b", re.IGNORECASE)
_MONTH_DOT = re.compile(r"(?<=[a-z])\.", re.IGNORECASE)
_SEPT = re.compile(r"\bsept\b", re.IGNORECASE)
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def normalise(text: str) -> str:
    """``text`` without ordinal suffixes and dots after month abbreviations, Sept as Sep."""
    return _SEPT.sub("Sep", _MONTH_DOT.sub("", _ORDINAL.sub("", text)))


def parse(text: str, name: str) -> dt.date:
    """``text`` read with format ``name``'s strptime pattern(s); ValueError if none fits."""
    for pattern in STRPTIME[name]:
        try:
            return dt.datetime.strptime(normalise(text), pattern).date()
        except ValueError:
            continue
    raise ValueError(f"{text!r} does not match {STRPTIME[name]}")


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
    edges += [dt.date(1600, 2, 29), dt.date(1776, 7, 4), dt.date(1968, 12, 31)]
    edges += [dt.date(2068, 12, 31), dt.date(2069, 1, 1), dt.date(1000, 9, 30)]
    return edges + [dates.FIRST_DATE + dt.timedelta(rng.randrange(span + 1)) for _ in range(n)]


# -- formats ----------------------------------------------------------------------------


def test_the_reference_covers_every_format() -> None:
    assert set(STRPTIME) == set(FORMATS)
    assert len(FORMATS) == 44


def test_format_names_are_their_example_written_that_way() -> None:
    # 1969-07-20, or 1969-09-20 for the styles that shorten September in their own way
    september = {"Sept. 20, 1969", "Sept. 20th 1969", "20 Sept 1969"}
    for name, fmt in FORMATS.items():
        expected = dt.date(1969, 9, 20) if name in september else dt.date(1969, 7, 20)
        assert fmt.example == expected and fmt.render(expected) == name


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


# how each style writes the twelve months, written out by hand
MONTH_SPELLINGS = {
    "Jul. 20, 1969": "Jan. Feb. Mar. Apr. May Jun. Jul. Aug. Sep. Oct. Nov. Dec.",
    "Sept. 20, 1969": "Jan. Feb. March April May June July Aug. Sept. Oct. Nov. Dec.",
    "20 Sept 1969": "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec",
    "Jul 20, 1969": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec",
}


@pytest.mark.parametrize("name", sorted(MONTH_SPELLINGS))
def test_month_spellings(name: str) -> None:
    written = [format_date(dt.date(1901, m, 2), name) for m in range(1, 13)]
    months = [re.sub(r"\s*\d+(st|nd|rd|th)?,?\s*", " ", w).strip() for w in written]
    assert months == MONTH_SPELLINGS[name].split()


@pytest.mark.parametrize("name", [n for n in sorted(FORMATS) if written_weekday(n) is not None])
def test_written_weekdays_are_true_weekdays(name: str) -> None:
    for date in sample_dates(300, seed=1):
        assert written_weekday(format_date(date, name)) == date.weekday()


def test_old_and_far_dates_are_proleptic_gregorian() -> None:
    # datetime's calendar: 4 July 1776 was a Thursday; 1600 and 2400 are leap years, 2100 not
    assert format_date(dt.date(1776, 7, 4), "the 20th of July, 1969") == "the 4th of July, 1776"
    assert format_date(dt.date(1776, 7, 4), "Sunday, July 20, 1969") == "Thursday, July 4, 1776"
    assert format_date(dt.date(1600, 2, 29), "20 Jul 1969") == "29 Feb 1600"
    assert format_date(dt.date(2999, 12, 31), "1969-07-20") == "2999-12-31"
    with pytest.raises(ValueError):
        dt.date(2100, 2, 29)


def test_ordinals() -> None:
    days = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th"}
    days |= {21: "21st", 22: "22nd", 23: "23rd", 30: "30th", 31: "31st"}
    for day, written in days.items():
        assert format_date(dt.date(2001, 1, day), "20th July 1969") == f"{written} January 2001"


def test_unknown_format_names_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown date format"):
        format_date(dt.date(2000, 1, 1), "%Y")


# -- the generator ----------------------------------------------------------------------


def canonical(src: str) -> str:
    """A generated source with the typing variations undone: one space between words and a
    space after each comma (the case is left to the callers, which compare ignoring it)."""
    return re.sub(r",(?=\S)", ", ", re.sub(r" {2,}", " ", src))


def _renderings(date: dt.date, name: str) -> list[str]:
    try:
        return [format_date(date, name)]
    except ValueError:  # a two-digit year outside 1969-2068
        return []


def _written_as(src: str, date: dt.date) -> set[str]:
    """The formats that write ``date`` as ``src``, up to case and the spacing variations."""
    text = canonical(src).lower()
    return {n for n in FORMATS if any(text == r.lower() for r in _renderings(date, n))}


def _parses_as(src: str, name: str, date: dt.date) -> bool:
    try:
        return parse(canonical(src), name) == date
    except ValueError:
        return False


def test_generated_pairs_parse_back_and_cover_the_range() -> None:
    pairs = generate_pairs(3000, seed=5)
    years = []
    for src, iso in pairs:
        date = dt.date.fromisoformat(iso)
        assert dt.date(1000, 1, 1) <= date <= dt.date(2999, 12, 31)
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", iso)
        assert any(_parses_as(src, name, date) for name in FORMATS), src
        assert _written_as(src, date), src
        weekday = written_weekday(src)
        assert weekday is None or weekday == date.weekday(), src
        years.append(date.year)
    assert min(years) < 1050 and max(years) > 2950  # the whole range, 1000-2999
    recent = sum(1900 <= y <= 2099 for y in years) / len(years)
    # half recent on purpose, a tenth of the other half, and the two-digit forms' 1969-2068
    assert 0.5 < recent < 0.65, recent


def test_two_digit_years_are_only_written_for_1969_to_2068() -> None:
    short = re.compile(r"^\d{2}\.\d{2}\.\d{2}$|^\d{1,2}/\d{1,2}/\d{2}$|^\d{2}-[a-z]{3}-\d{2}$")
    seen = 0
    for src, iso in generate_pairs(5000, seed=11):
        if short.match(canonical(src).lower()):
            seen += 1
            assert 1969 <= int(iso[:4]) <= 2068, (src, iso)
    assert seen > 200  # 3 of the 44 forms


def test_case_and_spacing_vary_as_documented() -> None:
    # the shares the module documents (6% lower-cased, 4% upper-cased, 4% with a space
    # doubled, 3% without the space after a comma), expected from the format names and
    # compared within 5 binomial standard deviations of 20,000 draws (about 0.006)
    pairs = generate_pairs(20_000, seed=4)
    names = list(FORMATS)

    def fraction(hits: list[bool]) -> float:
        return sum(hits) / len(hits)

    lettered = [s for s, _ in pairs if re.search("[a-zA-Z]", s)]
    has_letters = [n for n in names if re.search("[a-zA-Z]", n)]
    upper_forms = sum(n == n.upper() for n in has_letters) / len(has_letters)  # 2 of 34
    upper = fraction([s == s.upper() for s in lettered])
    assert abs(upper - (0.04 + 0.90 * upper_forms)) < 0.006, upper  # 0.90: not lower
    doubled = fraction(["  " in s for s, _ in pairs])
    assert abs(doubled - 0.04 * fraction([" " in n for n in names])) < 0.006, doubled
    no_space = fraction([bool(re.search(r",\S", s)) for s, _ in pairs])
    assert abs(no_space - 0.03 * fraction(["," in n for n in names])) < 0.006, no_space
    assert any(s.startswith("JULY ") for s, _ in pairs)
    assert any(s.startswith("the ") and s.islower() and "th " in s for s, _ in pairs)


def test_every_source_has_one_reading() -> None:
    # no generated string parses to two different dates under two formats
    for src, iso in generate_pairs(2000, seed=9):
        readings = set()
        for name in FORMATS:
            try:
                readings.add(parse(canonical(src), name))
            except ValueError:
                pass
        assert readings == {dt.date.fromisoformat(iso)}, src


def test_every_format_is_used() -> None:
    seen: set[str] = set()
    for src, iso in generate_pairs(5000, seed=3):
        seen |= _written_as(src, dt.date.fromisoformat(iso))
    assert seen == set(FORMATS)


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
    assert test[:3] == _first_test_pairs(3)
    for seed in (0, 1, 2):
        train = generate_pairs(20_000, seed=seed)
        assert not sources & {src for src, _ in train}
    assert not sources & {src for src, _ in dates.valid_pairs()}


def _first_test_pairs(n: int) -> list[tuple[str, str]]:
    """The held-out stream's first ``n`` pairs, drawn independently with
    random.Random(TEST_SEED) as the module doc describes (they happen to be distinct)."""
    rng = random.Random(dates.TEST_SEED)
    formats = list(FORMATS.values())
    out = []
    for _ in range(n):
        fmt = formats[rng.randrange(len(formats))]
        if fmt.two_digit_year:
            first, last = dt.date(1969, 1, 1), dt.date(2068, 12, 31)
        elif rng.random() < 0.5:
            first, last = dt.date(1900, 1, 1), dt.date(2099, 12, 31)
        else:
            first, last = dt.date(1000, 1, 1), dt.date(2999, 12, 31)
        date = first + dt.timedelta(days=rng.randrange((last - first).days + 1))
        text = fmt.render(date)
        case = rng.random()
        text = text.lower() if case < 0.06 else text.upper() if case < 0.10 else text
        spacing = rng.random()
        if spacing < 0.04 and " " in text:
            words = text.split(" ")
            i = rng.randrange(len(words) - 1)
            text = " ".join(words[: i + 1]) + "  " + " ".join(words[i + 1 :])
        elif 0.04 <= spacing < 0.07:
            text = text.replace(", ", ",", 1)
        out.append((text, date.isoformat()))
    return out


def test_training_data_would_contain_test_sources_without_the_exclusion() -> None:
    # the exclusion matters: the raw stream does emit held-out strings (short numeric forms)
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


# -- dates written by hand --------------------------------------------------------------

GOLDEN = Path(__file__).parent / "golden" / "real_dates.tsv"
# A second, looser reader for dates as people write them, independent of dates.py and of the
# per-format table above: it drops the weekday, "the", "of", ordinals, commas and the dots
# after month abbreviations, then tries these patterns; every pattern that reads a line must
# give the same date (dots and dashes day first, slashes month first).
_LOOSE = (
    "%d %B %Y", "%B %d %Y", "%d %b %Y", "%b %d %Y", "%m/%d/%Y", "%m/%d/%y", "%d.%m.%Y",
    "%d.%m.%y", "%d-%m-%Y", "%d-%b-%Y", "%d-%b-%y", "%Y-%m-%d", "%Y/%m/%d", "%Y%m%d",
)  # fmt: skip
_WEEKDAY_WORD = re.compile(r"^(" + "|".join(d + "|" + d[:3] for d in _WEEKDAYS) + r")\b,?\s*")


def read_golden() -> list[tuple[str, str]]:
    """The hand-written (source, ISO) lines of tests/golden/real_dates.tsv."""
    lines = GOLDEN.read_text(encoding="utf-8").splitlines()
    return [(s, iso) for s, iso in (line.split("\t") for line in lines if line.strip())]


def loose_readings(source: str) -> tuple[set[dt.date], int | None]:
    """(every date the loose reader finds in ``source``, the weekday it names or None)."""
    text = " ".join(source.lower().split())
    named = _WEEKDAY_WORD.match(text)
    weekday = None
    if named:
        weekday = [d[:3] for d in _WEEKDAYS].index(named.group(1)[:3])
        text = text[named.end() :]
    text = re.sub(r"\b(the|of)\b|,", " ", text)
    text = re.sub(r"(?<=\d)(st|nd|rd|th)\b", "", text)
    text = re.sub(r"(?<=[a-z])\.", "", text)
    text = re.sub(r"\bsept\b", "sep", text)
    text = re.sub(r"(?<=\d)\. (?=\d)", ".", text)  # "25. 12. 1999"
    text = " ".join(text.split())
    readings = set()
    for pattern in _LOOSE:
        try:
            readings.add(dt.datetime.strptime(text, pattern).date())
        except ValueError:
            pass
    return readings, weekday


def test_the_hand_written_dates_are_right() -> None:
    pairs = read_golden()
    assert len(pairs) >= 150
    assert len({s for s, _ in pairs}) == len(pairs)  # distinct sources
    for source, iso in pairs:
        date = dt.date.fromisoformat(iso)
        assert iso == date.isoformat()
        readings, weekday = loose_readings(source)
        assert readings == {date}, (source, iso, readings)
        assert weekday is None or weekday == date.weekday(), (source, _WEEKDAYS[date.weekday()])


def test_the_hand_written_dates_vary() -> None:
    pairs = read_golden()
    years = [int(iso[:4]) for _, iso in pairs]
    assert len({y // 100 for y in years}) >= 12  # centuries from the 11th to the 30th
    shapes = {re.sub("[a-z]+", "a", re.sub("[A-Z]+", "A", re.sub(r"\d", "9", s))) for s, _ in pairs}
    assert len(shapes) >= 40  # kinds of writing: digits, letters, punctuation, spacing
    assert sum(written_weekday(s) is not None for s, _ in pairs) >= 20
    assert sum(y < 1900 for y in years) >= 50


def test_the_loose_reader_is_not_too_loose() -> None:
    # it refuses what it cannot read and what is ambiguous under its own conventions
    assert loose_readings("July 20th 1969") == ({dt.date(1969, 7, 20)}, None)
    assert loose_readings("Sunday, 20 July 1969")[1] == 6
    assert loose_readings("20/07/1969")[0] == set()  # slashes are month first
    assert loose_readings("Smarch 3 1999")[0] == set()
