"""A labelled follow-up set built from the XQuAD-ru dev set, for bench/followups.py.

How the pairs are built (deterministically, from ../shared/data only):

1. Within one article, for each question Q2 in order, find a name in it: a run of
   capitalised words past its first word.  Its earlier question Q1 is the nearest
   other question of the article (before Q2 if there is one, else after it) whose
   text or gold answer has the name's first word (Snowball stems compared); a Q1 on
   Q2's paragraph is preferred.
2. The name in Q2 is replaced by a third-person pronoun of the name's gender,
   number and case (pymorphy3 parses the name's head noun): «Полония» -> «она»,
   «Варшавы» -> «её», with the н-form after a preposition («в ней»); a genitive
   name after a noun moves before it as a possessive («население Варшавы» ->
   «её население»).  That is the follow-up; Q2 itself is its standalone form.
3. A pair is kept when the follow-up still has a content word of its own and
   differs from Q2; one follow-up per Q2.

The conversation a follow-up continues is Q1 and Q1's gold answer (a correct
answer, so that the set measures retrieval, not the answering model).  The
gold for recall is Q2's paragraph.  ``--show N`` prints pairs to read: on a read
of 36 of them, about four in five read as a person would ask; the rest carry a
pronoun in the wrong case or gender (pymorphy3 misreads a foreign name, or a
verb's object as its subject), which a reader notices and search does not
(pronouns are stop words to it).

    python bench/followup_set.py [--show 20]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
XQUAD = REPO.parent / "shared" / "data" / "xquad-ru" / "xquad.ru.dev36.json"

_WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*", re.UNICODE)
GENDERS = {"masc": 0, "femn": 1, "neut": 2, "plur": 3}
PRONOUNS = {  # case -> forms for masc, femn, neut, plural; then the н-forms after a preposition
    "nomn": (("он", "она", "оно", "они"), ("он", "она", "оно", "они")),
    "gent": (("его", "её", "его", "их"), ("него", "неё", "него", "них")),
    "datv": (("ему", "ей", "ему", "им"), ("нему", "ней", "нему", "ним")),
    "accs": (("его", "её", "его", "их"), ("него", "неё", "него", "них")),
    "ablt": (("им", "ей", "им", "ими"), ("ним", "ней", "ним", "ними")),
    "loct": (("нём", "ней", "нём", "них"), ("нём", "ней", "нём", "них")),
}


@dataclass(frozen=True)
class FollowUpPair:
    """A follow-up, the exchange it continues, its standalone form and its gold."""

    article: int
    previous_question: str
    previous_answer: str
    previous_paragraph: str  # 'a003-p001'
    follow_up: str
    standalone: str
    paragraph: str  # the gold paragraph of the follow-up
    same_paragraph: bool


@lru_cache(maxsize=1)
def _morph():
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


def _stem(word: str) -> str:
    from index.lexical import stemmer

    return stemmer().stemWord(word.lower().replace("ё", "е"))


def name_runs(question: str) -> list[tuple[int, int]]:
    """(start, end) word indexes of runs of capitalised words past the first word."""
    words = _WORD.findall(question)
    runs, start = [], None
    for i, word in enumerate(words + [""]):
        upper = i > 0 and word[:1].isupper()
        if upper and start is None:
            start = i
        elif not upper and start is not None:
            runs.append((start, i))
            start = None
    return runs


# Cases a preposition governs, likeliest first (for a name whose own ending is ambiguous).
GOVERNS = {
    "в": ("loct", "accs"), "во": ("loct", "accs"), "на": ("loct", "accs"), "о": ("loct",),
    "об": ("loct",), "при": ("loct",), "к": ("datv",), "ко": ("datv",), "по": ("datv",),
    "с": ("ablt", "gent"), "со": ("ablt", "gent"), "между": ("ablt",), "над": ("ablt",),
    "под": ("ablt", "accs"), "перед": ("ablt",), "за": ("ablt", "accs"),
}


PARTICLES = frozenset({"де", "ван", "фон", "да", "ди", "ла", "ле", "дель", "дю", "аль", "эль"})


def _nouns(word: str) -> list:
    return [p for p in _morph().parse(word) if "NOUN" in p.tag]


def _past_verb(word: str):
    parse = _morph().parse(word)[0] if word else None
    return parse if parse is not None and "VERB" in parse.tag and "past" in parse.tag else None


def _form(words: list[str], run: tuple[int, int]) -> tuple[str, str] | None:
    """(case, gender or 'plur') of the name at ``run``, or None when it is not a noun."""
    head = next((w for w in words[run[0]:run[1]] if _nouns(w)), None)
    if head is None:
        return None
    parses = _nouns(head)
    before = words[run[0] - 1].lower() if run[0] > 0 else ""
    after = words[run[1]] if run[1] < len(words) else ""
    verb_before = _past_verb(words[run[0] - 1] if run[0] > 0 else "")
    verb = _past_verb(after) or verb_before
    if before in GOVERNS or (before and "PREP" in _morph().parse(before)[0].tag):
        allowed = GOVERNS.get(before, ("gent",))
        parse = next((p for p in parses if p.tag.case in allowed), None)
        case = parse.tag.case if parse is not None else allowed[0]
    elif verb is not None:  # the name is the subject of its verb: its form agrees with it
        gender = "plur" if verb.tag.number == "plur" else verb.tag.gender or "masc"
        agrees = any("nomn" in p.tag.grammemes and gender in p.tag.grammemes
                     for p in parses)
        # an unknown name's guessed parses say nothing; a known word that does not agree
        # is the verb's object («подписала Соглашение»): no pronoun reads right there
        unknown = not parses[0].is_known and not (verb is verb_before and "tran" in verb.tag)
        return ("nomn", gender) if agrees or unknown else None
    else:
        parse = parses[0]
        case = parse.tag.case
    parse = parse or parses[0]
    return case, "plur" if parse.tag.number == "plur" else parse.tag.gender or "masc"


def pronoun_for(question: str, run: tuple[int, int]) -> str | None:
    """``question`` with the name at ``run`` replaced by a pronoun, or None when no
    pronoun reads naturally there (not a noun, a title in quotes, an apposition)."""
    spans = [m.span() for m in _WORD.finditer(question)]
    words = [question[a:b] for a, b in spans]
    form = _form(words, run)
    start, end = spans[run[0]][0], spans[run[1] - 1][1]
    before = words[run[0] - 1] if run[0] > 0 else ""
    if form is None or form[0] not in PRONOUNS or question[start - 1:start] in "\"«'" \
            or before.lower() in PARTICLES or words[run[0]].isupper():
        return None  # not a noun; a title in quotes; «Томас де Мезьер»; an abbreviation
    case, gender = form
    after_preposition = before.lower() in GOVERNS or (
        bool(before) and "PREP" in _morph().parse(before)[0].tag)
    pronoun = PRONOUNS[case][after_preposition][GENDERS[gender]]
    noun_before = bool(before) and not after_preposition and bool(_nouns(before)) \
        and "NOUN" in _morph().parse(before)[0].tag
    if noun_before and case == "gent":
        # «население Варшавы» -> «её население»: a possessive stands before its noun
        first = run[0] - 1
        while first > 0 and {"ADJF", "PRTF"} & set(_morph().parse(words[first - 1])[0].tag.grammemes):
            first -= 1  # «социального обеспечения Великобритании»: before the adjectives too
        b_start = spans[first][0]
        return question[:b_start] + pronoun + " " + question[b_start:start].rstrip() + \
            question[end:]
    if noun_before or (run[0] == 1 and not _function_word(words[0])):
        return None  # «команда Лос-Анджелес Рэмс»: an apposition; «Южная Калифорния»
    if after_preposition and before.lower() in ("во", "со", "ко"):
        # «во Франции» but «в ней»: the preposition's extra vowel goes with the name
        b_start = spans[run[0] - 1][0]
        return question[:b_start] + before[0] + " " + pronoun + question[end:]
    return question[:start] + pronoun + question[end:]


def build_pairs(path: Path = XQUAD) -> list[FollowUpPair]:
    """The follow-up pairs of the SQuAD-format file at ``path`` (see the docstring)."""
    articles = json.loads(path.read_text(encoding="utf-8"))["data"]
    pairs = []
    for a, article in enumerate(articles):
        items = [(f"a{a:03d}-p{p:03d}", qa["question"].strip(), qa["answers"][0]["text"])
                 for p, paragraph in enumerate(article["paragraphs"])
                 for qa in paragraph["qas"] if qa.get("answers")]
        for i, (paragraph, question, _) in enumerate(items):
            pair = _pair(a, items[:i][::-1] + items[i + 1:], paragraph, question)
            if pair is not None:
                pairs.append(pair)
    return pairs


def _pair(article: int, others: list[tuple[str, str, str]], paragraph: str,
          question: str) -> FollowUpPair | None:
    words = _WORD.findall(question)
    for run in name_runs(question):
        first = _stem(words[run[0]])
        candidates = [e for e in others
                      if first in {_stem(w) for w in _WORD.findall(e[1] + " " + e[2])}]
        if not candidates:
            continue
        same = [e for e in candidates if e[0] == paragraph]
        # the nearest earlier question, else the nearest later one (read as earlier)
        previous = (same or candidates)[0]
        follow_up = pronoun_for(question, run)
        if follow_up and follow_up != question and _has_content(follow_up):
            return FollowUpPair(article, previous[1], previous[2], previous[0], follow_up,
                                question, paragraph, previous[0] == paragraph)
    return None


def _function_word(word: str) -> bool:
    from assistant.followup import QUESTION_WORDS
    from index.lexical import STOPWORDS

    tag = _morph().parse(word)[0].tag
    return word.lower() in QUESTION_WORDS | STOPWORDS or bool({"PREP", "CONJ", "PRCL"} & tag.grammemes)


def _has_content(text: str) -> bool:
    from assistant.followup import ANAPHORA, QUESTION_WORDS
    from index.lexical import STOPWORDS

    return any(w.lower() not in STOPWORDS | ANAPHORA | QUESTION_WORDS and len(w) > 2
               for w in _WORD.findall(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", type=int, default=20, help="pairs to print")
    parser.add_argument("--json", type=Path, help="write the pairs to this JSON file")
    args = parser.parse_args()
    if not XQUAD.is_file():
        sys.exit(f"{XQUAD} not found: this benchmark needs ../shared/data")
    pairs = build_pairs()
    same = sum(p.same_paragraph for p in pairs)
    print(f"{len(pairs)} pairs from {len({p.article for p in pairs})} articles; "
          f"{same} on the previous question's paragraph, {len(pairs) - same} on another")
    for pair in pairs[:args.show]:
        print(f"  {pair.previous_question} | {pair.previous_answer}\n"
              f"    -> {pair.follow_up}\n       ({pair.standalone})")
    if args.json:
        args.json.write_text(json.dumps([asdict(p) for p in pairs], ensure_ascii=False,
                                        indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
