"""Numbers, percentages, years and dates in Russian text, normalised for comparison.

"1 500 000", "1,5 млн" and "полтора" are one number only when written in
figures, so figures are normalised: thin or plain spaces between thousands go,
a comma is the decimal mark (Russian usage) unless it groups thousands twice
or more, and a multiplier word (тыс., млн, миллиардов...) multiplies.  A whole
number from 1000 to 2100 is a year; a day number before a month name in any
case ("12 апреля", "12-го апреля") is a date, and the month is also kept on its
own so that "в апреле" can be checked against it.  Small number words
("двух", "пяти") and Roman numerals ("XVIII век") count as numbers too.
"""

from __future__ import annotations

import re
from decimal import Decimal

from assistant.grounding.fact import Fact

_NUMBER = re.compile(
    r"(?<![\w.,])(?P<int>\d{1,3}(?:,\d{3}){2,}|\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?!\d)|\d+)"
    r"(?:[.,](?P<frac>\d+))?(?!\w)")
_AFTER = re.compile(
    r"(?:-?(?:го|е|й|х|ми|ти|ых))?\s*(?:(?P<percent>%|процент\w*)|"
    r"(?P<mult>тыс(?:яч\w*|\.)?|млн\.?|миллион\w*|млрд\.?|миллиард\w*|трлн\.?|триллион\w*)|"
    r"(?P<month>[А-Яа-яЁё]+))?", re.IGNORECASE)
_MULTIPLIERS = {"тыс": 10**3, "млн": 10**6, "милли": 10**6, "млрд": 10**9, "миллиа": 10**9,
                "трлн": 10**12, "трилл": 10**12}
_MONTHS = {"январ": 1, "феврал": 2, "март": 3, "апрел": 4, "ма": 5, "июн": 6, "июл": 7,
           "август": 8, "сентябр": 9, "октябр": 10, "ноябр": 11, "декабр": 12}
_MONTH_ENDINGS = ("", "ь", "я", "е", "ю", "ем", "ом", "а", "у", "й")
_MONTH_WORD = re.compile(r"\b[А-Яа-яЁё]+\b")
_ROMAN = re.compile(r"(?<!\w)(?=[IVXL])(L?X{0,3})(IX|IV|V?I{0,3})(?!\w)")
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50}
_NUMBER_WORDS = {
    **dict.fromkeys(("два", "две", "двух", "двум", "двумя"), 2),
    **dict.fromkeys(("три", "трех", "трем", "тремя"), 3),
    **dict.fromkeys(("четыре", "четырех", "четырем", "четырьмя"), 4),
    **dict.fromkeys(("пять", "пяти", "пятью"), 5),
    **dict.fromkeys(("шесть", "шести", "шестью"), 6),
    **dict.fromkeys(("семь", "семи", "семью"), 7),
    **dict.fromkeys(("восемь", "восьми", "восемью"), 8),
    **dict.fromkeys(("девять", "девяти", "девятью"), 9),
    **dict.fromkeys(("десять", "десяти", "десятью"), 10),
    **dict.fromkeys(("двадцать", "двадцати"), 20),
    **dict.fromkeys(("сто", "ста"), 100),
}
_NUMBER_WORD = re.compile(r"(?<!\w)(" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
                          + r")(?!\w)", re.IGNORECASE)


def is_number_word(word: str) -> bool:
    """Whether ``word`` is a number written in words ("четыре", "шести"), which a stop-word
    list counts as a stop word but an answer to "сколько" states as its figure."""
    return word.lower().replace("ё", "е") in _NUMBER_WORDS


def month_number(word: str) -> int | None:
    """The month a Russian month name stands for, in any case ("апреля" -> 4)."""
    word = word.lower()
    if word in ("май", "мая", "мае", "маем"):
        return 5
    for stem, number in _MONTHS.items():
        if stem != "ма" and word.startswith(stem) and word[len(stem):] in _MONTH_ENDINGS:
            return number
    return None


def canonical(value: Decimal) -> str:
    """A number as one string whatever its notation: 1500000, 1.5, 12."""
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def quantity_facts(text: str) -> list[Fact]:
    """Numbers, percentages, years, dates and months mentioned in ``text``."""
    facts: list[Fact] = []
    taken: list[tuple[int, int]] = []
    for match in _NUMBER.finditer(text):
        fact_list, end = _figure_facts(text, match)
        facts += fact_list
        taken.append((match.start(), end))
    facts += _word_number_facts(text, taken)
    facts += _month_facts(text, facts)
    return sorted(facts, key=lambda f: (f.start, f.kind))


def _figure_facts(text: str, match: re.Match) -> tuple[list[Fact], int]:
    digits = re.sub(r"[^\d]", "", match.group("int"))
    frac = match.group("frac")
    value = Decimal(digits + ("." + frac if frac else ""))
    after = _AFTER.match(text, match.end())
    start, end = match.start(), match.end()
    if after.group("percent"):
        end = after.end()
        return [Fact("percent", canonical(value), text[start:end], start, end)], end
    if after.group("mult"):
        end = after.end()
        value *= _multiplier(after.group("mult"))
        return [Fact("number", canonical(value), text[start:end], start, end)], end
    month = month_number(after.group("month") or "")
    if month and not frac and 1 <= value <= 31:
        end = after.end()
        return [Fact("date", f"{int(value):02d}.{month:02d}", text[start:end], start, end),
                Fact("month", str(month), after.group("month"), after.start("month"), end)], end
    grouped = match.group("int") != digits
    kind = "year" if not frac and not grouped and 1000 <= value <= 2100 else "number"
    return [Fact(kind, canonical(value), match.group(), start, end)], end


def _multiplier(word: str) -> int:
    word = word.lower()
    return next(v for k, v in sorted(_MULTIPLIERS.items(), key=lambda kv: -len(kv[0]))
                if word.startswith(k))


def _word_number_facts(text: str, taken: list[tuple[int, int]]) -> list[Fact]:
    facts = []
    for match in _NUMBER_WORD.finditer(text):
        after = _AFTER.match(text, match.end())
        value = Decimal(_NUMBER_WORDS[match.group().lower().replace("ё", "е")])
        end = match.end()
        if after.group("mult"):
            value, end = value * _multiplier(after.group("mult")), after.end()
        facts.append(Fact("number", canonical(value), text[match.start():end], match.start(), end))
    for match in _ROMAN.finditer(text):
        if match.group() and not any(s <= match.start() < e for s, e in taken):
            facts.append(Fact("number", str(_roman_value(match.group())), match.group(),
                              match.start(), match.end()))
    return facts


def _roman_value(numeral: str) -> int:
    values = [_ROMAN_VALUES[c] for c in numeral]
    return sum(-v if i + 1 < len(values) and v < values[i + 1] else v
               for i, v in enumerate(values))


def _month_facts(text: str, found: list[Fact]) -> list[Fact]:
    """Months named without a day ("в апреле 1961 года")."""
    dated = {f.start for f in found if f.kind == "month"}
    facts = []
    for match in _MONTH_WORD.finditer(text):
        month = month_number(match.group())
        if month and match.start() not in dated:
            facts.append(Fact("month", str(month), match.group(), match.start(), match.end()))
    return facts
