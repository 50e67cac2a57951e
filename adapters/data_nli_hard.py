"""Hard NLI pairs from SQuAD-format QA: the near misses a grounding check must tell apart.

For each question of the chosen articles, the paragraph sentence holding its
answer is the hypothesis's starting point and a window of one or two
sentences around it (as the checker's evidence windows are) the premise:

- entailment: the sentence itself, and the paraphrases of
  adapters/sentence_edits.py (a parenthesis or relative clause dropped,
  clauses reordered, the segment with the answer alone);
- contradiction: the answer swapped for another answer of its type from the
  same article (a name, year, number stated there in another role), a year or
  another figure changed, two figures exchanged, a verb negated;
- neutral: a sentence of another paragraph of the article, and the swapped
  claim against the sentence where its new value really stands (the value
  matches, the statement is about something else).

Classes are cut to the smallest one's size (seeded), and a (premise,
hypothesis) pair is kept once.  Articles are chosen by number, so the articles that measure
the checker can be kept out.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.data_nli import LABELS, NliPair
from adapters.data_squad import is_squad
from adapters.errors import TrainingDataError
from adapters.sentence_edits import (
    answer_type,
    figures_exchanged,
    negated,
    number_changed,
    paraphrases,
    sentence_spans,
    swapped,
    year_changed,
)

SOURCE = "xquad-hard"
ENTAILMENT, NEUTRAL, CONTRADICTION = range(3)
NEUTRAL_PER_ANSWER = 2  # sentences of other paragraphs of the article per answer


@dataclass(frozen=True)
class HardPair:
    """An NLI pair and the edit that made it."""

    pair: NliPair
    kind: str


def hard_pairs(document: dict, articles: Collection[int], seed: int) -> list[HardPair]:
    """Balanced, seeded hard pairs from the numbered ``articles`` of a parsed SQuAD file."""
    if not is_squad(document):
        raise TrainingDataError("hard NLI pairs need a SQuAD-format file (data[].paragraphs[])")
    rng = random.Random(seed)
    found: dict[tuple[str, str], HardPair] = {}
    for number, article in enumerate(document["data"]):
        if number in articles:
            for item in _article_pairs(article, rng):
                found.setdefault((item.pair.premise, item.pair.hypothesis), item)
    by_label: dict[int, list[HardPair]] = defaultdict(list)
    for item in found.values():
        by_label[item.pair.label].append(item)
    size = min((len(by_label[label]) for label in range(len(LABELS))), default=0)
    chosen = [item for label in range(len(LABELS))
              for item in rng.sample(by_label[label], size)]
    rng.shuffle(chosen)
    return chosen


def read_squad_file(path: Path) -> dict:
    """A SQuAD-format JSON file, parsed."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrainingDataError(f"cannot read {path} as a SQuAD JSON file ({exc})") from exc


def write_pairs(items: list[HardPair], path: Path) -> Path:
    """Write the pairs as JSON lines that adapters/data_nli.py reads (with each pair's kind)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"premise": i.pair.premise, "hypothesis": i.pair.hypothesis,
                         "label": LABELS[i.pair.label], "kind": i.kind}, ensure_ascii=False)
             for i in items]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _article_pairs(article: dict, rng: random.Random) -> Iterator[HardPair]:
    paragraphs = [p for p in article.get("paragraphs", []) if p.get("context")]
    spans = [sentence_spans(p["context"]) for p in paragraphs]
    pool = defaultdict(list)  # answers of the article by type, for swaps
    for paragraph in paragraphs:
        for qa in paragraph.get("qas", []):
            if qa.get("answers"):
                pool[answer_type(qa["answers"][0]["text"])].append(qa["answers"][0]["text"])
    for index, paragraph in enumerate(paragraphs):
        others = [s for j, sents in enumerate(spans) if j != index for *_, s in sents
                  if len(s.split()) >= 6]
        for qa in paragraph.get("qas", []):
            yield from _question_pairs(paragraph["context"], spans[index], qa, pool, others,
                                       spans, rng)


def _question_pairs(context: str, spans: list, qa: dict, pool: dict, others: list[str],
                    article_spans: list, rng: random.Random) -> Iterator[HardPair]:
    answer = (qa.get("answers") or [{}])[0]
    start, text = answer.get("answer_start", -1), answer.get("text", "")
    holder = next((i for i, s in enumerate(spans) if s[0] <= start and start + len(text) <= s[1]),
                  None)
    if not text or holder is None or context[start:start + len(text)] != text:
        return
    sentence, offset = spans[holder][2], start - spans[holder][0]
    premise = _window(spans, holder, rng)
    pair = _maker(premise)
    yield pair(sentence, ENTAILMENT, "sentence")
    for variant, rewrite in paraphrases(sentence, text):
        yield pair(rewrite, ENTAILMENT, variant)
    kind = answer_type(text)
    if kind != "other" and (claim := swapped(sentence, offset, text, pool[kind], rng)):
        yield pair(claim, CONTRADICTION, f"{kind} swapped")
        value = claim[offset:offset + len(claim) - len(sentence) + len(text)]
        if elsewhere := _stating(value, article_spans, sentence):
            yield HardPair(NliPair(elsewhere, claim, NEUTRAL, SOURCE), "value stated elsewhere")
    for name, edited in (("year changed", year_changed(sentence, rng)),
                         ("number changed", number_changed(sentence, rng)),
                         ("figures exchanged", figures_exchanged(sentence)),
                         ("negated", negated(sentence))):
        if edited and edited != sentence:
            yield pair(edited, CONTRADICTION, name)
    for other in rng.sample(others, min(NEUTRAL_PER_ANSWER, len(others))):
        yield pair(other, NEUTRAL, "other paragraph")


def _maker(premise: str):
    def make(hypothesis: str, label: int, kind: str) -> HardPair:
        return HardPair(NliPair(premise, " ".join(hypothesis.split()), label, SOURCE), kind)
    return make


def _window(spans: list, holder: int, rng: random.Random) -> str:
    """The sentence at ``holder``, with its previous or next sentence half of the time."""
    neighbours = [i for i in (holder - 1, holder + 1) if 0 <= i < len(spans)]
    if not neighbours or rng.random() < 0.5:
        return spans[holder][2]
    other = rng.choice(neighbours)
    first, last = sorted((holder, other))
    return f"{spans[first][2]} {spans[last][2]}"


def _stating(value: str, article_spans: list[Any], sentence: str) -> str | None:
    """The first sentence of the article, other than ``sentence``, that holds ``value``."""
    for sentences in article_spans:
        for *_, text in sentences:
            if value and value in text and text != sentence:
                return text
    return None
