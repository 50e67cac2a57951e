"""`lira eval rag`: retrieval and grounded answers measured on a SQuAD-format file.

The paragraphs (plus any distractor folders) go into a fresh index in a
temporary folder under --out, with the user's embedder but nothing of the
user's own indexes.  For each question: the gold paragraph's rank among the
retrieved documents (recall@k, MRR); then, unless answers are turned off,
the answer from Lira's own RAG path (Engine.prepare_answer over that index)
scored against the gold answers, checked against the passages it was
given (assistant.grounding) and repaired as the on_unsupported setting says
(Engine.finish_answer, as `lira ask` does; the record's ``repair``).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from assistant.engine import Engine
from assistant.evals.adapter_eval import score_answers
from assistant.evals.answer_metrics import (
    badge_figures,
    cited_numbers,
    exact_match,
    strip_citations,
    token_f1,
)
from assistant.evals.chrf import NORMALISATION, chrf_report
from assistant.evals.errors import EvalError
from assistant.evals.gen_metrics import DEFINITIONS as OVERLAP_DEFINITIONS
from assistant.evals.report import output_folder
from assistant.evals.retrieval_metrics import (
    gold_rank,
    mean_reciprocal_rank,
    ranked_documents,
    recall_at,
    recall_curve,
)
from assistant.evals.squad_data import QaItem, read_squad, write_paragraphs
from assistant.grounding.answer_overlap import first_line
from assistant.grounding.scoring import WELL_SUPPORTED
from assistant.runtime.adapter_choice import AUTO, NONE, choose_adapter
from assistant.runtime.models import resolve
from assistant.settings import Settings

INDEX_NAME = "eval-rag"
RECALL_POINTS = (1, 5, 10)
CHUNKS_PER_DOCUMENT = 3  # chunks searched per document wanted: a paragraph may be several
QUERY_BATCH = 32
Progress = Callable[[str], None]


@dataclass
class RagOptions:
    """What `lira eval rag` was asked to do."""

    qa: Path
    out: Path
    distractors: tuple[Path, ...] = ()
    depth: int = 10  # documents ranked per question (-k)
    limit: int | None = None
    adapter: str | None = None  # None: the chat profile's setting
    answers: bool = True
    max_new_tokens: int | None = None
    nli: str | None = None  # None: the nli setting; 'none': no NLI model
    quiet: bool = False  # no progress bar


@dataclass
class _Run:
    """The models and index of one evaluation, and where each paragraph's file is."""

    engine: Any
    searcher: Any
    paragraph_of: dict[str, str]  # file path -> paragraph id
    adapter: str | None


def run_eval_rag(settings: Settings, options: RagOptions,
                 progress: Progress | None = None) -> dict[str, Any]:
    """Index, retrieve, answer and check; returns the whole report (see eval_rag_report)."""
    qa = read_squad(options.qa)
    for folder in options.distractors:
        if not folder.exists():
            raise EvalError(f"no such distractor folder: {folder}")
    questions = qa.questions[:options.limit] if options.limit else qa.questions
    with tempfile.TemporaryDirectory(prefix=".rag-index-", dir=output_folder(options.out)) as tmp:
        run, chunks = _prepare(settings, options, qa, Path(tmp), progress)
        try:
            records = _records(run, questions, options)
        finally:
            run.searcher.store.close()
    setup = _setup(settings, options, run, len(qa.paragraphs), chunks, qa.skipped)
    return summarise(records, options.depth, options.answers, setup)


def _prepare(settings: Settings, options: RagOptions, qa, tmp: Path,
             progress: Progress | None) -> tuple[_Run, int]:
    adapter = _adapter_reference(settings, options.adapter)
    # A home of its own: the index is throwaway; models still come from the user's cache.
    engine = Engine(replace(settings, home=tmp / "home", model_cache=settings.models_dir,
                            nli=options.nli or settings.nli), progress)
    paths = write_paragraphs(qa, tmp / "paragraphs")
    if progress:
        progress(f"indexing {len(paths)} paragraphs"
                 + (f" and {len(options.distractors)} distractor folders"
                    if options.distractors else ""))
    chunks = sum(engine.index_path(root, INDEX_NAME).chunks
                 for root in (tmp / "paragraphs", *options.distractors))
    run = _Run(engine, engine.searcher(INDEX_NAME), {p: pid for pid, p in paths.items()},
               adapter)
    return run, chunks


def _adapter_reference(settings: Settings, reference: str | None) -> str | None:
    """An adapter named by the user, as a folder: the evaluation's own home has none."""
    reference = settings.chat.adapter if reference is None else reference
    if reference in (None, AUTO):
        return reference  # 'auto' depends on the model, not on the home
    choice = choose_adapter(reference, "chat", settings.chat.model, None, settings.home)
    return NONE if choice.path is None else str(choice.path)


def _records(run: _Run, questions: list[QaItem], options: RagOptions) -> list[dict[str, Any]]:
    """Every question's record; queries are embedded a batch at a time, which is far faster."""
    from tqdm import tqdm

    records = []
    with tqdm(total=len(questions), desc="questions", unit="q", file=sys.stderr,
              disable=options.quiet or None, leave=False, dynamic_ncols=True) as bar:
        for start in range(0, len(questions), QUERY_BATCH):
            batch = questions[start:start + QUERY_BATCH]
            found = run.searcher.search_many([item.question for item in batch],
                                             options.depth * CHUNKS_PER_DOCUMENT)
            for item, hits in zip(batch, found):
                records.append(_evaluate(run, item, hits, options))
                bar.update()
    return records


def _evaluate(run: _Run, item: QaItem, hits: list, options: RagOptions) -> dict[str, Any]:
    """One question's record: retrieval, and the answer with its checks."""
    documents = ranked_documents([run.paragraph_of.get(h.path, h.path) for h in hits],
                                 options.depth)
    record: dict[str, Any] = {"question": item.question, "answers": list(item.answers),
                              "article": item.article, "gold": item.paragraph,
                              "rank": gold_rank(documents, item.paragraph),
                              "retrieved": documents}
    if options.answers:
        record.update(_answer(run, item, options))
    return record


def _answer(run: _Run, item: QaItem, options: RagOptions) -> dict[str, Any]:
    prepared = run.engine.prepare_answer(item.question, index_name=INDEX_NAME,
                                         adapter=run.adapter,
                                         max_new_tokens=options.max_new_tokens)
    # the check `lira ask` and the chat make (the answer judged as the answer to its
    # question), then repaired as the on_unsupported setting says
    answer = run.engine.finish_answer(prepared, check=True)
    report = answer.check or run.engine.check_answer(answer.text, answer.sources, item.question)
    passages = [run.paragraph_of.get(s.path, s.path) for s in answer.sources]
    prediction = first_line(answer.text)
    return {"answer": answer.text, "prediction": prediction, "passages": passages,
            "gold_passage": (passages.index(item.paragraph) + 1
                             if item.paragraph in passages else None),
            "cited": cited_numbers(prediction),
            "exact_match": exact_match(prediction, item.answers),
            "f1": round(token_f1(prediction, item.answers), 4),
            "stopped_by": answer.stats.stopped_by,
            "grounding": {"score": round(report.score, 4), "claims": len(report.sentences),
                          "counts": report.counts(),
                          "sentences": _sentences(report, run.paragraph_of)},
            "repair": answer.repair.to_dict() if answer.repair is not None else None}


def _sentences(report, names: dict[str, str]) -> list[dict[str, Any]]:
    """The checked sentences, evidence named by paragraph id: the files are temporary."""
    sentences = [s.to_dict() for s in report.sentences]
    for sentence in sentences:
        if sentence["evidence"]:
            source = sentence["evidence"]["source"]
            sentence["evidence"]["source"] = names.get(source, source)
    return sentences


def summarise(records: list[dict[str, Any]], depth: int, answers: bool,
              setup: dict[str, Any]) -> dict[str, Any]:
    """The report: setup, retrieval, answer and grounding figures, per-question records."""
    ranks = [r["rank"] for r in records]
    retrieval = {f"recall@{k}": round(recall_at(ranks, k), 4) for k in RECALL_POINTS if k <= depth}
    retrieval |= {"mrr": round(mean_reciprocal_rank(ranks), 4), "depth": depth,
                  "recall_curve": [round(v, 4) for v in recall_curve(ranks, depth).values()]}
    report = {"command": "lira eval rag", "n": len(records), "setup": setup,
              "retrieval": retrieval, "answers": None, "grounding": None}
    if answers:
        chrf = chrf_report([strip_citations(r["prediction"]) for r in records],
                           [r["answers"][0] for r in records])
        for record, score in zip(records, chrf["sentences"]):
            record["chrf"] = score
        report["answers"] = score_answers(records)
        report["grounding"] = grounding_summary([r["grounding"] for r in records])
        report["grounding"]["badge"] = badge_figures([badge_score(r["grounding"]) for r in records],
                                                     [r["f1"] for r in records], WELL_SUPPORTED)
    return report | {"questions": records}


def badge_score(check: dict[str, Any]) -> float:
    """An answer's score as its badge stands: one with nothing checked («Да.») shows no score
    and is not green (chat.backend.grounding_badge), so it ranks below every checked one."""
    return check["score"] if check["claims"] else 0.0


def grounding_summary(checks: list[dict[str, Any]]) -> dict[str, Any]:
    """Answer scores averaged over answers that state something, and all verdicts counted.

    An answer with no checkable sentence scores 1.0 in the checker (nothing
    to contradict); it is counted apart instead of raising the mean.
    """
    stated = [c for c in checks if c["claims"]]
    verdicts: dict[str, int] = {}
    for check in checks:
        for verdict, count in check["counts"].items():
            verdicts[verdict] = verdicts.get(verdict, 0) + count
    mean = sum(c["score"] for c in stated) / len(stated) if stated else None
    return {"answers": len(checks), "without_claims": len(checks) - len(stated),
            "mean_score": None if mean is None else round(mean, 4),
            "fully_supported": (round(sum(c["score"] == 1.0 for c in stated) / len(stated), 4)
                                if stated else None),
            "claims": sum(verdicts.values()), "verdicts": verdicts}


def _adapter_loaded(run: _Run) -> str:
    """The adapter folder the answers were generated with, or 'none'."""
    engine = run.engine
    path = engine.adapter_path(run.adapter, "chat",
                               resolve(engine.settings.chat.model, engine.settings))
    return str(path) if path else "none"


def _setup(settings: Settings, options: RagOptions, run: _Run, paragraphs: int, chunks: int,
           skipped: int) -> dict[str, Any]:
    from assistant.grounding.entailment import nli_reference

    setup = {"qa_file": str(options.qa), "distractors": [str(d) for d in options.distractors],
             "paragraphs": paragraphs, "chunks": chunks, "questions_skipped": skipped,
             "limit": options.limit, "embedder": settings.embedder, "retrieval_mode": "hybrid",
             "gold": "the paragraph holding the question; chunks collapse to their document"}
    if options.answers:
        setup |= {"chat_model": settings.chat.model, "adapter": _adapter_loaded(run),
                  "passages_per_answer": settings.k,
                  "max_new_tokens": options.max_new_tokens or settings.max_new_tokens,
                  "answer_scoring": "the answer's first line, citations removed; EM and F1 by "
                                    "SQuAD's rules (lower case, ё as е, no punctuation); "
                                    "chrF++ by sacrebleu CHRF(word_order=2) against the "
                                    f"first gold answer ({NORMALISATION})",
                  "overlap_metrics": OVERLAP_DEFINITIONS,
                  "grounding": "the whole answer checked against the passages it was given "
                               "as the answer to its question, as `lira ask` and the chat "
                               "check it; NLI model: "
                               f"{nli_reference(run.engine.settings) or 'none'}",
                  "badge": f"right answers: F1 >= 0.5; green: score >= {WELL_SUPPORTED} (the "
                           "chat's badge); roc_auc of the answer's score for right against "
                           "wrong"}
    return setup
