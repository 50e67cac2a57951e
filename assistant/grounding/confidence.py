"""How sure the chat model is of an answer, reading the same passages: signals for the badge.

The grounding signals alone (the answer's words found in the window about the
question, the entailment model) barely tell a right span from a wrong span of
the same passage (bench/answer_badge.py: ROC-AUC about 0.6), since a small
model copies its answers from the passages either way.  The chat model's own
reading adds what they lack:

- the log-probability of the answer's first line (citation marks left out)
  after the RAG prompt with the same passages, the mean over its tokens: one
  forward pass of the answer's tokens (the prompt is still in the model's cache);
- its agreement across passage orders: the token F1, against the answer's, of
  the greedy first line written over the same passages in reverse order
  (renumbered).  A right answer tends to come again; a wrong span is often one
  the model picked for where its passage stood in the prompt.

A second order (the passages moved round by one; ``other_orders``) made the
agreement alone better (bench/answer_badge.py --orders 2, ROC-AUC 0.749 ->
0.786 on the tuning articles, 0.693 -> 0.732 on the held-out ones) but not the
badge: refitted, its ROC-AUC on the held-out answers stayed 0.788 against
0.789, so the 1.8 s that prompt costs is not paid.

Four sampled answers' agreement with the answer was tried too (bench/
answer_badge.py, tuning articles 24-29): beside these two it added nothing
(cross-validated ROC-AUC 0.773 against 0.775 without), so it is not paid for.
Nor is the answer's log-probability over the reversed passages (read right after the
reordered line, while that prompt is cached: 0.5 s more): the best single signal on the
tuning answers (ROC-AUC 0.747), it added 0.002 of cross-validated ROC-AUC beside the
others (0.767 -> 0.769, 5 folds repeated 20 times).
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
ORDERS = 1  # other orders of the passages the answer is written over again


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


def other_orders(passages: list[Source], count: int = ORDERS) -> list[list[Source]]:
    """Up to ``count`` orders of ``passages`` other than theirs, each distinct, renumbered
    from 1: reversed first, then moved round by one (the first passage last), by two..."""
    orders: list[list[Source]] = []
    turns = [passages[::-1]] + [passages[k:] + passages[:k] for k in range(1, len(passages))]
    for order in turns:
        if len(orders) < count and order != passages and order not in orders:
            orders.append(order)
    return [[replace(source, n=n) for n, source in enumerate(order, 1)] for order in orders]


def reordered_agreement(generator: Any, question: str, passages: list[Source],
                        answer: str, count: int = ORDERS) -> float | None:
    """The mean token F1 against ``answer`` (a first line) of the greedy first lines
    written for ``question`` over ``passages`` in ``count`` other orders (other_orders);
    None for fewer than two passages (no other order)."""
    orders = other_orders(passages, count)
    if not orders:
        return None
    lines = [first_line(generator.generate(build_rag_prompt(question, order), REORDERED).text)
             for order in orders]
    return sum(token_f1(line, [answer]) for line in lines) / len(lines)


def read_answer(generator: Any, question: str, answer: str,
                sources: Iterable[Any], orders: int = ORDERS) -> AnswerReading | None:
    """The chat model's reading of ``answer``'s first line after the RAG prompt of
    ``question`` over ``sources`` (rag.Source objects, or anything as_sources reads): its
    mean log-probability (answer_log_prob) and its agreement with the answer over the
    passages in ``orders`` other orders (reordered_agreement).
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
    return AnswerReading(log_prob, reordered_agreement(generator, question, passages, line,
                                                       orders))
