"""Sampling settings for poems, chosen by chrF++ with Optuna's seeded TPE sampler.

As in the poetry seed: top_k, top_p, temperature, repetition_penalty and
no_repeat_ngram_size are searched, each configuration scored by the corpus
chrF++ of the poems it writes for a dev split of the held-out poems.  The
winner is then compared with the default poem preset on a separate test
split, since its dev score is biased upwards by the search itself.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from assistant.evals.errors import EvalError
from assistant.runtime.presets import Preset

T = TypeVar("T")
# Ranges around the default poem preset, wide enough to hold the seed's winner's top_k
# and top_p; its temperature (14.4) and repetition penalty (0.9) are not worth the trials.
SPACE = {"top_k": (5, 100), "top_p": (0.7, 1.0), "temperature": (0.3, 1.5),
         "repetition_penalty": (0.9, 1.4), "no_repeat_ngram_size": (0, 2, 3, 4, 5)}


@dataclass(frozen=True)
class Trial:
    """One configuration tried and its dev chrF++."""

    number: int
    params: dict[str, Any]
    dev_chrf: float


@dataclass(frozen=True)
class SearchResult:
    """Every trial, the best one, and the preset it makes."""

    trials: list[Trial]
    best: Trial
    preset: Preset


def split_dev_test(items: Sequence[T], seed: int) -> tuple[list[T], list[T]]:
    """A seeded shuffle cut in two disjoint halves (dev gets the odd one)."""
    if len(items) < 2:
        raise EvalError(f"--search needs at least 2 held-out poems (one dev, one test), "
                        f"found {len(items)}; hold out more with --holdout or add authors")
    shuffled = random.Random(seed).sample(list(items), len(items))
    cut = (len(items) + 1) // 2
    return shuffled[:cut], shuffled[cut:]


def suggest_preset(trial: Any, base: Preset) -> Preset:
    """The preset an Optuna trial proposes: ``base`` with the five sampling settings."""
    return base.with_overrides(
        do_sample=True,
        top_k=trial.suggest_int("top_k", *SPACE["top_k"], log=True),
        top_p=trial.suggest_float("top_p", *SPACE["top_p"]),
        temperature=trial.suggest_float("temperature", *SPACE["temperature"]),
        repetition_penalty=trial.suggest_float("repetition_penalty",
                                               *SPACE["repetition_penalty"]),
        no_repeat_ngram_size=trial.suggest_categorical("no_repeat_ngram_size",
                                                       SPACE["no_repeat_ngram_size"]))


def search_sampling(score: Callable[[Preset], float], trials: int, seed: int,
                    base: Preset) -> SearchResult:
    """Try ``trials`` presets, each scored by ``score`` (higher is better); keep the best."""
    import optuna

    # Optuna logs every trial at INFO; the report and the progress bar say enough.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(lambda trial: score(suggest_preset(trial, base)), n_trials=trials)
    done = [Trial(t.number, dict(t.params), round(float(t.value), 2)) for t in study.trials]
    best = max(done, key=lambda t: t.dev_chrf)  # the first of equals, as Optuna keeps
    return SearchResult(done, best, base.with_overrides(do_sample=True, **best.params))
