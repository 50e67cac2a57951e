"""How sure the chat model is of an answer, reading the same passages: a signal for the badge.

The grounding signals alone (the answer's words found in the window about the
question, the entailment model) barely tell a right span from a wrong span of
the same passage (bench/answer_badge.py: ROC-AUC about 0.6), since a small
model copies its answers from the passages either way.  The chat model's own
log-probability of the answer's first line (citation marks left out), given
the RAG prompt with the same passages, adds what they lack: it is the mean
over the answer's tokens, one forward pass of prompt and answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from adapters.registry import BUNDLED_DIR
from assistant.rag import CITATION, Source, build_rag_prompt
from assistant.runtime import llama_scores


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


def answer_confidence(generator: Any, question: str, answer: str,
                      sources: Iterable[Any]) -> float | None:
    """``answer``'s first line scored by answer_log_prob after the RAG prompt of ``question``
    over ``sources`` (rag.Source objects, or anything as_sources reads).  None unless the
    generator is the calibrated model (see ``calibrated``), local (a model on a server gives
    no log-probabilities here)."""
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
    first = next((line for line in answer.splitlines() if line.strip()), "")
    # the citation marks are near-certain tokens that would only dilute the mean
    return answer_log_prob(loaded, build_rag_prompt(question, passages),
                           " ".join(CITATION.sub(" ", first).split()))
