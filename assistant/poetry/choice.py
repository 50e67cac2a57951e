"""Several candidate poems from one prompt, each scored by form and fluency; the best wins.

Form is what makes a poem a poem here: the share of lines that rhyme within
their stanza, and how regular the metre is.  Fluency is the mean token
log-probability of the candidate under the same model: it keeps a
well-formed jumble from winning.  Their sum, with fluency weighted by
FLUENCY_WEIGHT, ranks the candidates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from assistant.errors import GenerationError
from assistant.poetry.fluency import mean_logprob
from assistant.poetry.form import PoemForm, analyze_poem
from assistant.poetry.metre import MAX_MEAN_COST
from assistant.poetry.tidy import TidyStream, has_verse, tidy_poem
from assistant.runtime.generation import Generator

# One nat per token of fluency is worth 0.2 of form (form lies in [0, 1]): a
# poem that rhymes throughout beats a slightly likelier one that does not.
FLUENCY_WEIGHT = 0.2


@dataclass
class Candidate:
    """One generated poem and its scores (None: the candidate is empty)."""

    text: str
    stopped_by: str
    form: PoemForm | None = None
    form_score: float = 0.0
    fluency: float | None = None

    @property
    def score(self) -> float | None:
        if self.fluency is None:
            return None
        return self.form_score + FLUENCY_WEIGHT * self.fluency

    def scores(self) -> dict:
        """The candidate's numbers for JSON output."""
        return {"score": _round(self.score), "form": round(self.form_score, 4),
                "fluency": _round(self.fluency),
                "rhymed": self.form.rhymed if self.form else None,
                "metre": self.form.metre if self.form else None, "stopped_by": self.stopped_by}


def form_score(form: PoemForm) -> float:
    """Half the share of rhymed lines, half the metre's regularity (0 without a metre)."""
    regularity = 0.0 if form.metre_cost is None else 1 - form.metre_cost / MAX_MEAN_COST
    return (form.rhymed + max(regularity, 0.0)) / 2


def generate_candidates(generator: Generator, prompt: str, first: TidyStream, n: int,
                        progress: Callable[[str], None] | None = None) -> list[Candidate]:
    """``first`` (an already started stream) and ``n - 1`` more, each scored."""
    candidates = []
    for number in range(1, n + 1):
        if progress:
            progress(f"writing candidate {number} of {n}")
        stream = first if number == 1 else TidyStream(generator.stream(prompt, first.preset))
        raw = "".join(stream)
        candidates.append(score_candidate(generator, prompt, raw, stream.stats.stopped_by))
    return candidates


def score_candidate(generator: Generator, prompt: str, raw: str, stopped_by: str) -> Candidate:
    """Analyse and score one generated text, cleaned of markup and footnotes (tidy_poem)."""
    candidate = Candidate(tidy_poem(raw).strip(), stopped_by)
    if not candidate.text:
        return candidate
    candidate.form = analyze_poem(candidate.text)
    candidate.form_score = form_score(candidate.form)
    lead = raw[:len(raw) - len(raw.lstrip())]  # as written after the prompt
    candidate.fluency = mean_logprob(generator.loaded, prompt, lead + candidate.text)
    return candidate


def best(candidates: list[Candidate]) -> int:
    """The index of the highest-scoring candidate (the first of equals), among those with
    a line of verse when any has one: «*** Конец *** 1» scores no form, but neither may a
    short real poem, and only the real one should win."""
    scored = [i for i, c in enumerate(candidates) if c.score is not None]
    if not scored:
        raise GenerationError(f"the model wrote an empty poem in all {len(candidates)} "
                              "candidates; ask for more with --candidates or try another --adapter")
    return max(scored, key=lambda i: (has_verse(candidates[i].text), candidates[i].score))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
