"""How sure the chat model is of an answer, reading the same passages: signals for the badge.

The grounding signals alone (the answer's words found in the window about the
question, the entailment model) barely tell a right span from a wrong span of
the same passage (bench/answer_badge.py: ROC-AUC about 0.6), since a small
model copies its answers from the passages either way.  The chat model's own
reading adds what they lack:

- the log-probability of the answer's first line (citation marks left out)
  after the RAG prompt with the same passages, the mean over its tokens: one
  forward pass of the answer's tokens (the prompt is still in the model's cache);
- its agreement across passage orders: the token F1 of the greedy first line
  written over the same passages in reverse order (renumbered), against the
  answer's.  A right answer tends to come again; a wrong span is often one the
  model picked for where its passage stood in the prompt.

Four sampled answers' agreement with the answer was tried too (bench/
answer_badge.py, tuning articles 24-29): beside these two it added nothing
(cross-validated ROC-AUC 0.773 against 0.775 without), so it is not paid for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from adapters.registry import BUNDLED_DIR
from assistant.grounding.answer_overlap import first_line, strip_citations, token_f1
from assistant.grounding.question_check import AnswerReading
from assistant.rag import Source, build_rag_prompt
from assistant.runtime import llama_scores
from assistant.runtime.presets import PRESETS

# the answer preset (greedy), up to the first line's end
REORDERED = PRESETS["answer"].with_overrides(max_new_tokens=64, stop=("\n",))


def answer_log_prob(loaded: Any, prompt: str, answer: str) -> float | None:
    """The mean log-probability per token of ``answer`` after ``prompt`` under a local
    causal model (runtime.loading.LoadedModel, or a GGUF model on llama.cpp); None for a
    seq2seq model or no tokens."""
    if loaded.is_seq2seq or not answer.strip():
        return None
    if getattr(loaded, "llama", None) is not None:
        return llama_scores.mean_logprob(loaded, prompt, " " + answer.strip())
    import torch

    tokenizer, model = loaded.tokenizer, loaded.model
    prompt_ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    answer_ids = tokenizer(" " + answer.strip(), add_special_tokens=False,
                           return_tensors="pt")["input_ids"]
    if answer_ids.shape[1] == 0:
        return None
    ids = torch.cat([prompt_ids, answer_ids], 1).to(model.device)
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0, prompt_ids.shape[1] - 1:-1].float()
    picked = logits.log_softmax(-1).gather(1, answer_ids[0].to(logits.device)[:, None])
    return float(picked.mean())


# The model whose log-probabilities the badge's weights were fitted on (bench/answer_badge.py):
# another model's scale differs (a bigger one is surer of everything), so it gives no signal.
CALIBRATED_MODEL, CALIBRATED_ADAPTER = "gemma-3-270m", BUNDLED_DIR / "chat"


def calibrated(loaded: Any) -> bool:
    """Whether ``loaded`` is the model and adapter the confidence weights were fitted on."""
    adapter = getattr(loaded, "adapter", None)
    return (Path(str(getattr(loaded, "name", ""))).name == CALIBRATED_MODEL and adapter is not None
            and Path(adapter).resolve() == CALIBRATED_ADAPTER.resolve())


def reordered_agreement(generator: Any, question: str, passages: list[Source],
                        answer: str) -> float | None:
    """The token F1 against ``answer`` (a first line) of the greedy first line written
    for ``question`` over ``passages`` in reverse order, renumbered; None for fewer than
    two passages (no other order)."""
    if len(passages) < 2:
        return None
    flipped = [replace(source, n=n) for n, source in enumerate(reversed(passages), 1)]
    return token_f1(first_line(generator.generate(build_rag_prompt(question, flipped),
                                                  REORDERED).text), [answer])


def read_answer(generator: Any, question: str, answer: str,
                sources: Iterable[Any]) -> AnswerReading | None:
    """The chat model's reading of ``answer``'s first line after the RAG prompt of
    ``question`` over ``sources`` (rag.Source objects, or anything as_sources reads): its
    mean log-probability (answer_log_prob) and its agreement with the answer over the
    passages in reverse order (reordered_agreement).
    None unless the generator is the calibrated model (see ``calibrated``), local (a model
    on a server gives no log-probabilities here)."""
    from assistant.grounding.sources import as_sources

    loaded = getattr(generator, "loaded", None)
    local = getattr(loaded, "llama", None) is not None or (
        getattr(loaded, "model", None) is not None and getattr(loaded, "tokenizer", None) is not None)
    if not local:
        return None  # on a server: no weights to read the answer with
    if not calibrated(loaded):
        return None

    items = list(sources)
    passages = [item if isinstance(item, Source) else Source(s.n, s.label, s.label, "", s.text, 0.0)
                for item, s in zip(items, as_sources(items))]
    # the citation marks are near-certain tokens that would only dilute the mean
    line = strip_citations(first_line(answer))
    prompt = build_rag_prompt(question, passages)
    log_prob = answer_log_prob(loaded, prompt, line)
    if log_prob is None:
        return None
    return AnswerReading(log_prob, reordered_agreement(generator, question, passages, line))
