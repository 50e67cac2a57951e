"""Rule-based edits of a Russian sentence that keep or break what it states.

Shared by the hard NLI pairs (adapters/data_nli_hard.py) and the claim sets
of bench/claims.py.  Keeping: paraphrases that drop a parenthesis or a
relative clause, move a leading subordinate clause after the main one, or
shorten the sentence to the segment holding a given span.  Breaking: a span
swapped for another value of its type, a figure or a year changed, two
figures exchanged, a verb negated.  The rules are deliberately narrow (no
morphology): an edit that cannot be made safely is not made (None).
"""

from __future__ import annotations

import random
import re

_YEAR = r"(?:1\d{3}|20\d{2})"
_TYPES = (("year", re.compile(rf"(?:в\s+)?{_YEAR}(?:\s*(?:год\w*|г\.))?")),
          ("decade", re.compile(rf"{_YEAR}-[хе](?:\s+год\w*)?")),
          ("percent", re.compile(r"(?:около\s+)?\d[\d\s.,]*\s*(?:%|процент\w*)")),
          ("number", re.compile(r"(?:около\s+)?\d[\d\s.,]*(?:\s+[^\s\d]+){0,2}")))
_CLAUSE = re.compile(r",\s+(?:котор\w+|где|куда|откуда|чей|чья|чьи|чьё)\b[^,;]*(?=[,;.!?]|$)")
_LEADING = re.compile(r"^(Когда|Хотя|Если|Поскольку|После того как|Так как|Пока)\b([^,]+),\s+(.+?)([.!?]?)$")
_SEGMENT = re.compile(r"[^,;:—–]+")
# A whole figure: digits not glued to letters, hyphens or other digits ("XX-й", "1970-х" excluded).
_FIGURE = re.compile(r"(?<![\w.,-])(?:\d{1,3}(?:[ \u00a0]\d{3})+|\d{1,7})(?![\w-]|[.,]\d)")
_WHOLE_YEAR = re.compile(rf"(?<![\w.,-]){_YEAR}(?![\w-]|[.,]\d)")
# Verbs safe to negate by a leading "не": copulas and common verbs, and past-tense forms
# ("-ал", "-ила", "-ели" ...) of at least six letters; nouns of those shapes are listed out.
_COMMON_VERBS = re.compile(r"\b(является|являются|являлся|являлась|было|был|была|были|"
                           r"имеет|имеют|может|могут|находится|находятся|включает|включают)\b")
_PAST = re.compile(r"\b[а-яё]{3,}(?:ал|ял|ил|ел|ул|ыл)(?:а|о|и)?(?:сь|ся)?\b")
_NOT_VERBS = frozenset({"капитал", "канал", "журнал", "финал", "генерал", "материал", "сериал",
                        "идеал", "интервал", "арсенал", "терминал", "персонал",
                        "оригинал", "минерал", "мемориал", "ритуал", "потенциал", "начало",
                        "правило", "модели", "недели", "цели", "колыбели", "артели",
                        "параллели", "дуэли", "мебели", "отели", "шинели", "автомобили",
                        "стили", "профили", "качели", "мыслители",
                        "родители", "жители", "учители", "строители", "зрители",
                        "писатели", "читатели", "покупатели", "избиратели", "деятели",
                        "двигатели", "показатели", "преподаватели", "создатели"})


def sentence_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, stop, sentence) for each sentence of a paragraph (razdel)."""
    from razdel import sentenize

    return [(s.start, s.stop, s.text) for s in sentenize(text)]


def answer_type(answer: str) -> str:
    """year, decade, percent, number, name or other (others are not swapped)."""
    text = answer.strip()
    kind = next((kind for kind, pattern in _TYPES if pattern.fullmatch(text)), None)
    if kind or re.search(r"\d", text):
        return kind or "other"
    tokens = text.split()
    if 0 < len(tokens) <= 4 and all(t[:1].isupper() and t[:1].isalpha() for t in tokens):
        return "name"
    return "other"


def paraphrases(sentence: str, answer: str) -> list[tuple[str, str]]:
    """(variant, text) rewrites of ``sentence`` that keep ``answer``."""
    found = []
    dropped = re.sub(r"\s*\([^()]*\)", "", sentence)
    if dropped != sentence and answer in dropped:
        found.append(("parenthesis dropped", dropped))
    clause = _CLAUSE.sub("", sentence)
    if clause != sentence and answer in clause:
        found.append(("clause dropped", clause))
    if (lead := _LEADING.match(sentence)) and answer in sentence:
        head, rest, main, end = lead.groups()
        reordered = f"{main[0].upper()}{main[1:]}, {head.lower()}{rest}{end or '.'}"
        found.append(("clauses reordered", reordered))
    if short := _answer_segment(sentence, answer):
        found.append(("shortened", short))
    return [(v, " ".join(t.split())) for v, t in found if len(t.split()) >= 4]


def _answer_segment(sentence: str, answer: str) -> str | None:
    """The comma/semicolon/dash segment holding the answer, as a sentence of its own."""
    segments = [m.group().strip() for m in _SEGMENT.finditer(sentence)]
    holding = [s for s in segments if answer in s]
    if len(segments) < 2 or not holding or len(holding[0].split()) < 5:
        return None
    short = holding[0].rstrip(".!?")
    return short[0].upper() + short[1:] + "."


def swapped(sentence: str, offset: int, answer: str, pool: list[str],
            rng: random.Random) -> str | None:
    """The sentence with the answer at ``offset`` replaced by another answer from ``pool``."""
    choices = [a for a in pool if a.lower() != answer.lower() and a.lower() not in sentence.lower()
               and answer.lower() not in a.lower()]
    if not choices:
        return None
    return sentence[:offset] + rng.choice(choices) + sentence[offset + len(answer):]


def year_changed(sentence: str, rng: random.Random) -> str | None:
    """The sentence with one of its years moved by 1 to 15 years (never into the future)."""
    years = list(_WHOLE_YEAR.finditer(sentence))
    if not years:
        return None
    match = rng.choice(years)
    year = int(match.group())
    shifted = year + rng.choice([d for d in range(-15, 16) if d and year + d <= 2025])
    return sentence[:match.start()] + str(shifted) + sentence[match.end():]


def number_changed(sentence: str, rng: random.Random) -> str | None:
    """The sentence with one of its figures (not a year) changed by a tenth to a half, at least 1."""
    figures = [m for m in _FIGURE.finditer(sentence) if not _WHOLE_YEAR.fullmatch(m.group())]
    if not figures:
        return None
    match = rng.choice(figures)
    value = int(re.sub(r"\D", "", match.group()))
    step = max(1, round(value * rng.uniform(0.1, 0.5)))
    changed = value + step if value < step + 1 or rng.random() < 0.5 else value - step
    spaced = f"{changed:,}".replace(",", " ") if not match.group().isdigit() else str(changed)
    return sentence[:match.start()] + spaced + sentence[match.end():]


def figures_exchanged(sentence: str) -> str | None:
    """The sentence with its first two different figures (years included) in each other's place."""
    figures = list(_FIGURE.finditer(sentence))
    first = figures[0] if figures else None
    second = next((m for m in figures[1:] if first and m.group() != first.group()), None)
    if first is None or second is None:
        return None
    return (sentence[:first.start()] + second.group() + sentence[first.end():second.start()]
            + first.group() + sentence[second.end():])


def negated(sentence: str) -> str | None:
    """The sentence with "не" before its first safely negatable verb; None if none or negated."""
    candidates = [m for m in (*_COMMON_VERBS.finditer(sentence), *_PAST.finditer(sentence))
                  if m.group() not in _NOT_VERBS]
    for match in sorted(candidates, key=lambda m: m.start()):
        before = sentence[:match.start()].rstrip().lower()
        if before.endswith((" не", " ни")) or before in ("не", "ни"):
            return None
        return sentence[:match.start()] + "не " + sentence[match.start():]
    return None
