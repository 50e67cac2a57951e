"""Does the answer's grounding badge predict correctness?  Fits and measures the statement check.

The bundled chat model and adapter answer XQuAD-ru questions over an index of
all 180 paragraphs (4 passages per answer, as `lira ask`); answers are cached
as JSONL (``--cache``), so re-scoring never re-generates.  Each answer's
statement (its question with the answer in the slot; assistant/grounding/
question_claim.py) gets its signals (question_check.py); the weights of
QuestionConfig are fitted by logistic regression on the ``--tune`` articles,
on the focus signals (and, with ``--confidence``, the chat model's reading of
the answer: its mean log-probability and its agreement with its answer over
the passages in other orders, cached in ``--readings``),
the intercept set so that ``--keep-right`` of
the right answers (token F1 >= 0.5) reach the green line, and printed (they
go into QuestionConfig by hand); then, with QuestionConfig's weights as they
are, on the ``--test`` articles: ROC-AUC of the answer's score for right against wrong,
the share of wrong answers with a green badge and of right answers with one,
before (the answer checked sentence by sentence) and after.

The chat adapter was trained on articles 0-29 and holds out 30-35
(adapters/bundled/chat/lira-adapter.json), so the test articles are 30-35 and
the tuning ones are taken from 0-29.

    python bench/answer_badge.py [--tune 24-29] [--test 30-35] [--cache FILE]
                                 [--fit] [--no-nli] [--confidence [--orders N]]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from assistant.runtime.offline import quiet_libraries

quiet_libraries()

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
XQUAD = REPO.parent / "shared" / "data" / "xquad-ru" / "xquad.ru.dev36.json"


def articles(spec: str) -> list[int]:
    """'24-29' or '1,3,5' as article numbers."""
    if "-" in spec:
        low, high = map(int, spec.split("-"))
        return list(range(low, high + 1))
    return [int(a) for a in spec.split(",")]


def generate(wanted: list[int], cache: Path, engine) -> list[dict]:
    """The cached answers of the wanted articles, generating those not cached yet."""
    from assistant.evals.answer_metrics import exact_match, token_f1
    from assistant.evals.squad_data import read_squad, write_paragraphs
    from assistant.grounding.answer_overlap import first_line

    cached = [json.loads(line) for line in cache.open(encoding="utf-8")] if cache.exists() else []
    done = {r["question"] for r in cached}
    qa = read_squad(XQUAD)
    todo = [q for q in qa.questions if int(q.paragraph[1:4]) in wanted and q.question not in done]
    if todo:
        # one folder per engine: a second call re-indexes the same files (unchanged, so
        # skipped); a fresh folder each call would index every paragraph again beside the
        # first copy, and the answers would be written over duplicated passages
        folder = Path(engine.settings.home) / "answer-badge"
        paths = write_paragraphs(qa, folder / "paragraphs")
        engine.index_path(folder / "paragraphs", "badge")
        paragraph_of = {p: pid for pid, p in paths.items()}
        with cache.open("a", encoding="utf-8") as out:
            for item in todo:
                prepared = engine.prepare_answer(item.question, index_name="badge")
                text = "".join(prepared.stream).strip()
                prediction = first_line(text)
                record = {"article": int(item.paragraph[1:4]), "question": item.question,
                          "answers": list(item.answers), "gold": item.paragraph,
                          "answer": text, "prediction": prediction,
                          "em": exact_match(prediction, item.answers),
                          "f1": round(token_f1(prediction, item.answers), 4),
                          "sources": [s.to_dict() | {"path": paragraph_of.get(s.path, s.path)}
                                      for s in prepared.sources]}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                cached.append(record)
    return [r for r in cached if r["article"] in wanted]


def readings(records: list[dict], generator, cache: Path, orders: int) -> dict[str, dict]:
    """The chat model's reading of each answer (confidence.read_answer) with its agreement
    over ``orders`` other orders of the passages, by question, cached by question and
    orders (a reading cached for other orders gets only the agreement measured)."""
    from assistant.grounding.answer_overlap import first_line, strip_citations
    from assistant.grounding.confidence import read_answer, reordered_agreement
    from assistant.rag import Source

    done: dict[tuple[str, int], dict] = {}
    for line in cache.open(encoding="utf-8") if cache.exists() else ():
        row = json.loads(line)
        done[(row["question"], row.get("orders", 1))] = row
    by_question = {question: row for (question, _), row in done.items()}
    with cache.open("a", encoding="utf-8") as out:
        for record in records:
            question, sources = record["question"], [Source(**s) for s in record["sources"]]
            other = by_question.get(question)
            if (question, orders) in done or (other is not None and other.get("log_prob") is None):
                continue
            started = time.perf_counter()
            if other is None:
                got = read_answer(generator, question, record["answer"], sources, orders)
                row = {"question": question, **(vars(got) if got else {})}
            else:
                line = strip_citations(first_line(record["answer"]))
                row = other | {"reordered": reordered_agreement(generator, question, sources,
                                                                   line, orders)}
            done[(question, orders)] = row | {"orders": orders,
                                              "seconds": round(time.perf_counter() - started, 3)}
            out.write(json.dumps(done[(question, orders)], ensure_ascii=False) + "\n")
            out.flush()
    return {question: row for (question, count), row in done.items()
            if count == orders or row.get("log_prob") is None}


def signals(records: list[dict], embedder, nli, read: dict | None = None) -> list[dict]:
    """Each record with its statement's signals (None: no statement form) and the old score;
    ``read``: the chat model's readings by question (see ``readings``)."""
    from assistant.grounding import GroundingConfig, check_answer
    from assistant.grounding.claims import split_claims
    from assistant.grounding.question_check import (
        AnswerReading,
        QuestionConfig,
        add_entailment,
        statement_evidence,
    )
    from assistant.grounding.question_claim import question_claim
    from assistant.grounding.similarity import Similarity
    from assistant.grounding.sources import Corpus, as_sources
    from assistant.rag import Source

    out = []
    for record in records:
        sources = [Source(**s) for s in record["sources"]]
        claims = split_claims(record["answer"])
        made = question_claim(record["question"], claims[0]) if claims else None
        row = {"record": record, "signals": None, "rest": claims[1:] if made else claims,
               "before": check_answer(record["answer"], sources, embedder, nli).score}
        if made is not None:
            window, _, found = statement_evidence(made, Corpus.of(as_sources(sources)),
                                                  Similarity(embedder), GroundingConfig(),
                                                  QuestionConfig())
            if nli is not None and window is not None:
                add_entailment(found, nli.scores([(window.text, made.claim.text)])[0])
            if read is not None and read[record["question"]].get("log_prob") is not None:
                row_read = read[record["question"]]
                found.read(AnswerReading(row_read["log_prob"], row_read.get("reordered")))
            row["signals"] = found
        out.append(row)
    return out


FITTED = ("focus", "top_focus")  # relevance and the NLI model: wrong-signed weights on tuning


def fit(rows: list[dict], keep_right: float, names: tuple[str, ...]) -> dict:
    """QuestionConfig's weights by logistic regression, the intercept set for ``keep_right``."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    judged = [r for r in rows if r["signals"] is not None]
    x = np.array([[r["signals"].features()[n] for n in names] for r in judged])
    y = np.array([r["record"]["f1"] >= 0.5 for r in judged])
    model = LogisticRegression().fit(x, y)
    z = x @ model.coef_[0]
    cut = np.sort(z[y])[int((1 - keep_right) * y.sum())]
    print(f"tuning: {len(judged)} statements, ROC-AUC {roc_auc_score(y, z):.3f}")
    weights = dict(zip(names, (round(float(w), 3) for w in model.coef_[0])))
    return weights | {"intercept": round(math.log(4) - float(cut), 3)}


def measure(rows: list[dict], embedder, nli, title: str) -> None:
    """Before and after: ROC-AUC, wrong and right answers with a green badge."""
    from assistant.evals.answer_metrics import badge_figures
    from assistant.grounding.checker import check_claims
    from assistant.grounding.question_check import QuestionConfig, decide_statement
    from assistant.grounding.scoring import WELL_SUPPORTED
    from assistant.rag import Source

    config = QuestionConfig()
    f1s = [r["record"]["f1"] for r in rows]
    after = []
    for row in rows:
        sources = [Source(**s) for s in row["record"]["sources"]]
        rest = check_claims(row["rest"], sources, embedder, nli).score if row["rest"] else 1.0
        if row["signals"] is None:
            after.append(rest)
        else:
            after.append(decide_statement(row["signals"], config)[1] * rest)
    em = sum(r["record"]["em"] for r in rows) / len(rows)
    print(f"\n{title}: {len(rows)} questions, EM {100 * em:.1f}, F1 "
          f"{100 * sum(f1s) / len(rows):.1f}, no statement form "
          f"{sum(r['signals'] is None for r in rows)}")
    for name, scores in (("before", [r["before"] for r in rows]), ("after", after)):
        print(f"  {name:<7} {badge_figures(scores, f1s, WELL_SUPPORTED)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune", default="24-29")
    parser.add_argument("--test", default="30-35")
    parser.add_argument("--cache", type=Path, default=REPO / ".cache" / "bench" / "answers.jsonl")
    parser.add_argument("--fit", action="store_true", help="fit the weights on --tune and print them")
    parser.add_argument("--keep-right", type=float, default=0.85)
    parser.add_argument("--no-nli", action="store_true")
    parser.add_argument("--confidence", action="store_true",
                        help="with the chat model's reading of each answer (its mean "
                             "log-probability and agreement with its answer over the "
                             "passages in other orders)")
    parser.add_argument("--orders", type=int, default=None,
                        help="other orders of the passages the agreement is measured over "
                             "(default: confidence.ORDERS, as the badge)")
    parser.add_argument("--readings", type=Path,
                        default=REPO / ".cache" / "bench" / "readings.jsonl")
    args = parser.parse_args()
    from assistant.engine import Engine
    from assistant.settings import load_settings

    settings = load_settings()
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    engine = Engine(replace(settings, home=Path(tempfile.mkdtemp(prefix="badge-home-")),
                            model_cache=settings.models_dir))
    started = time.perf_counter()
    tune = generate(articles(args.tune), args.cache, engine)
    test = generate(articles(args.test), args.cache, engine)
    embedder, nli = engine.embedder(), None if args.no_nli else engine.nli()
    from assistant.grounding.confidence import ORDERS

    read = (readings(tune + test, engine.generator("chat"), args.readings,
                     args.orders or ORDERS) if args.confidence else None)
    if args.fit:
        names = FITTED + (("confidence", "reordered") if args.confidence else ())
        print("fitted on", args.tune, fit(signals(tune, embedder, nli, read), args.keep_right,
                                          names))
    measure(signals(test, embedder, nli, read), embedder, nli, f"test articles {args.test}")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
