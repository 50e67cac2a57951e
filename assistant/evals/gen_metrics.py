"""Text-overlap metrics of generated text: chrF++, BLEU, ROUGE-1/2/L and METEOR, for Russian.

The seeds scored generations with BLEU, ROUGE and METEOR; Lira scored chrF++
only.  This module gives all five from one call, on a 0-100 scale, over
segments (one hypothesis and one reference each):

- chrF++: corpus score of assistant.evals.chrf (sacrebleu, word_order=2);
- BLEU: sacrebleu's corpus BLEU with its 'intl' tokenizer.  The default '13a'
  keeps Cyrillic words but splits off ASCII punctuation only, so «Парус» stays
  one token that never matches Парус; 'intl' splits Unicode punctuation too;
- ROUGE-1/2/L: F1 per segment, averaged over segments (as rouge-score's
  aggregator does), over ``words``: rouge-score's own tokenizer keeps only
  [a-z0-9] and turns a Russian sentence into nothing but its digits;
- METEOR: nltk's variant of Banerjee and Lavie's metric (greedy unigram
  alignment, exact matches then stem matches; Fmean with alpha 0.9, fragmentation
  penalty gamma * frag ** beta with gamma 0.5, beta 3), with Snowball Russian
  stems and no WordNet synonym stage, averaged over segments.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache

from assistant.evals.chrf import chrf_report, normalise
from index.lexical import stemmer

# letters and digits of any script; '_' is a word character to \w but not to ROUGE
_WORD = re.compile(r"[^\W_]+")
BLEU_TOKENIZER = "intl"
METEOR_PARAMETERS = {"alpha": 0.9, "beta": 3.0, "gamma": 0.5}  # nltk's defaults
# (key, title) of the figures beside chrF++, in the order reports show them
OVERLAP_COLUMNS = [("bleu", "BLEU"), ("rouge_1", "ROUGE-1"), ("rouge_2", "ROUGE-2"),
                   ("rouge_l", "ROUGE-L"), ("meteor", "METEOR")]
DEFINITIONS = {
    "chrf": "sacrebleu CHRF(word_order=2), corpus score",
    "bleu": f"sacrebleu BLEU, corpus score, tokenize='{BLEU_TOKENIZER}' (Unicode punctuation "
            "split off), case kept",
    "rouge": "ROUGE-1/2/L F1 per segment, averaged; words: lower case, ё as е, runs of "
             "letters and digits of any script",
    "meteor": "nltk's METEOR (exact, then Snowball Russian stem matches; alpha 0.9, beta 3, "
              "gamma 0.5) without WordNet synonyms, averaged over segments",
}


@dataclass(frozen=True)
class GenScores:
    """The five figures over a set of segments, each 0-100."""

    n: int
    chrf: float
    bleu: float
    rouge_1: float
    rouge_2: float
    rouge_l: float
    meteor: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def line(self) -> str:
        """The figures on one line, for a terminal."""
        return f"chrF++ {self.chrf:.2f}  " + overlap_line(self.to_dict())


def overlap_line(scores: dict[str, float]) -> str:
    """BLEU, ROUGE-1/2/L and METEOR out of ``scores``, on one line."""
    return "  ".join(f"{title} {scores[key]:.2f}" for key, title in OVERLAP_COLUMNS)


def words(text: str) -> list[str]:
    """The tokens of ROUGE and METEOR: lower case, ё as е, runs of letters and digits."""
    return _WORD.findall(text.lower().replace("ё", "е"))


@lru_cache(maxsize=65536)  # poems repeat their words; stemming is the slow part of METEOR
def russian_stem(word: str) -> str:
    """The Snowball Russian stem of a lower-case word (Latin words come back unchanged)."""
    return stemmer().stemWord(word)


def f1(overlap: int, predicted: int, wanted: int) -> float:
    """Harmonic mean of overlap/predicted and overlap/wanted; 0 when either is 0."""
    if not overlap:
        return 0.0
    precision, recall = overlap / predicted, overlap / wanted
    return 2 * precision * recall / (precision + recall)


def rouge_n(hypothesis: Sequence[str], reference: Sequence[str], n: int) -> float:
    """ROUGE-N F1: clipped n-gram overlap of two token lists."""
    hyp, ref = (Counter(zip(*(tokens[i:] for i in range(n)))) for tokens in (hypothesis, reference))
    return f1(sum((hyp & ref).values()), sum(hyp.values()), sum(ref.values()))


def rouge_l(hypothesis: Sequence[str], reference: Sequence[str]) -> float:
    """ROUGE-L F1: the longest common subsequence over both lengths."""
    return f1(lcs_length(hypothesis, reference), len(hypothesis), len(reference))


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (dynamic programming, one row kept)."""
    row = [0] * (len(b) + 1)
    for token in a:
        previous_diagonal = 0
        for j, other in enumerate(b, 1):
            above = row[j]
            row[j] = previous_diagonal + 1 if token == other else max(row[j], row[j - 1])
            previous_diagonal = above
    return row[-1]


def meteor(hypothesis: Sequence[str], reference: Sequence[str],
           stem: Callable[[str], str] = russian_stem, alpha: float = 0.9, beta: float = 3.0,
           gamma: float = 0.5) -> float:
    """METEOR of two token lists (0-1), as nltk computes it when WordNet has no synonyms."""
    hyp, ref = list(enumerate(hypothesis)), list(enumerate(reference))
    exact, hyp, ref = _match(hyp, ref)
    stemmed, _, _ = _match([(i, stem(w)) for i, w in hyp], [(j, stem(w)) for j, w in ref])
    matches = sorted(exact + stemmed)
    if not matches:
        return 0.0
    precision, recall = len(matches) / len(hypothesis), len(matches) / len(reference)
    fmean = precision * recall / (alpha * precision + (1 - alpha) * recall)
    return (1 - gamma * (chunks(matches) / len(matches)) ** beta) * fmean


Indexed = list[tuple[int, str]]  # (position in the segment, word)


def _match(hyp: Indexed, ref: Indexed) -> tuple[list[tuple[int, int]], Indexed, Indexed]:
    """nltk's greedy alignment: from the last hypothesis word back, each word takes the
    last still-unmatched equal reference word.  Returns the pairs and what is left."""
    free: dict[str, list[int]] = {}
    for j, word in ref:
        free.setdefault(word, []).append(j)
    pairs = [(i, free[word].pop()) for i, word in reversed(hyp) if free.get(word)]
    used_hyp, used_ref = {i for i, _ in pairs}, {j for _, j in pairs}
    return (pairs, [p for p in hyp if p[0] not in used_hyp],
            [p for p in ref if p[0] not in used_ref])


def chunks(matches: Sequence[tuple[int, int]]) -> int:
    """Runs of matches adjacent in both segments (matches sorted by hypothesis position)."""
    return 1 + sum(not (b[0] == a[0] + 1 and b[1] == a[1] + 1)
                   for a, b in zip(matches, matches[1:]))


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """sacrebleu's corpus BLEU (0-100) over whitespace-normalised segments."""
    from sacrebleu.metrics import BLEU

    hyps = [normalise(h) for h in hypotheses]
    return BLEU(tokenize=BLEU_TOKENIZER).corpus_score(hyps, [[normalise(r) for r in references]]).score


def overlap_scores(hypotheses: Sequence[str], references: Sequence[str],
                   stem: Callable[[str], str] = russian_stem) -> dict[str, float]:
    """BLEU, ROUGE-1/2/L and METEOR (0-100): the figures reported beside chrF++."""
    pairs = [(words(h), words(r)) for h, r in zip(hypotheses, references)]

    def mean(score: Callable[[list[str], list[str]], float]) -> float:
        return round(100 * sum(score(h, r) for h, r in pairs) / len(pairs), 2)

    return {"bleu": round(corpus_bleu(hypotheses, references), 2),
            "rouge_1": mean(lambda h, r: rouge_n(h, r, 1)),
            "rouge_2": mean(lambda h, r: rouge_n(h, r, 2)),
            "rouge_l": mean(rouge_l), "meteor": mean(lambda h, r: meteor(h, r, stem))}


def gen_scores(hypotheses: Sequence[str], references: Sequence[str],
               stem: Callable[[str], str] = russian_stem) -> GenScores:
    """chrF++, BLEU, ROUGE-1/2/L and METEOR of paired segments (SettingsError when the
    counts differ or there is nothing to score)."""
    chrf = chrf_report(list(hypotheses), list(references))  # checks the counts first
    return GenScores(n=chrf["n"], chrf=chrf["corpus"],
                     **overlap_scores(hypotheses, references, stem))
