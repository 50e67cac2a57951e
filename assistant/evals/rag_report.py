"""What `lira eval rag` writes and prints: the summary page, the plots, the figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.evals.gen_metrics import OVERLAP_COLUMNS, overlap_line
from assistant.evals.report import figure, markdown_table, write_report


def write_rag_report(out: Path, report: dict[str, Any]) -> list[Path]:
    """report.json, summary.md, recall_at_k.png and, with answers, grounding_scores.png."""
    plots = {"recall_at_k.png": lambda path: plot_recall(path, report["retrieval"])}
    if report["grounding"] is not None:
        scores = [r["grounding"]["score"] for r in report["questions"]
                  if r["grounding"]["claims"]]
        plots["grounding_scores.png"] = lambda path: plot_grounding(path, scores)
    return write_report(out, report, summary_markdown(report), plots)


def figures(report: dict[str, Any]) -> dict[str, Any]:
    """The report without its per-question records: what --json prints."""
    return {key: value for key, value in report.items() if key != "questions"}


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The figures in a few lines for the terminal."""
    retrieval, setup = report["retrieval"], report["setup"]
    recalls = "  ".join(f"R@{key.split('@')[1]} {value:.3f}" for key, value in retrieval.items()
                        if key.startswith("recall@"))
    lines = [f"questions {report['n']}, paragraphs {setup['paragraphs']}, chunks {setup['chunks']}",
             f"retrieval  {recalls}  MRR@{retrieval['depth']} {retrieval['mrr']:.3f}"]
    if report["answers"] is not None:
        answers, grounding = report["answers"], report["grounding"]
        lines.append(f"answers    EM {answers['exact_match']:.2f}  F1 {answers['f1']:.2f}  "
                     f"chrF++ {answers['chrf']:.2f}  cites gold "
                     f"{answers['cites_gold_passage']:.3f}")
        lines.append(f"overlap    {overlap_line(answers)}")
        lines.append(f"grounding  {_grounding_line(grounding)}")
        lines.append(f"badge      {_badge_line(grounding['badge'])}")
    return lines


def _badge_line(badge: dict[str, Any]) -> str:
    def shown(value: float | None, digits: int = 3) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    return (f"ROC-AUC {shown(badge['roc_auc'])} (right: F1 >= 0.5, {badge['right']} right, "
            f"{badge['wrong']} wrong); green (>= {badge['green_at']}): "
            f"{shown(badge['wrong_green'])} of wrong, {shown(badge['right_green'])} of right")


def _grounding_line(grounding: dict[str, Any]) -> str:
    mean = grounding["mean_score"]
    counts = ", ".join(f"{n} {verdict}" for verdict, n in grounding["verdicts"].items())
    shown = "-" if mean is None else f"{mean:.3f}"
    return (f"mean score {shown} over {grounding['answers'] - grounding['without_claims']} "
            f"answers with claims ({counts})")


def summary_markdown(report: dict[str, Any]) -> str:
    """A short Markdown page: setup, retrieval, answers and grounding, with the plots."""
    retrieval = report["retrieval"]
    lines = ["# Retrieval-augmented answers on a SQuAD-format file", "",
             f"- questions: {report['n']}"]
    lines += [f"- {key.replace('_', ' ')}: {value}" for key, value in report["setup"].items()]
    recalls = [k for k in retrieval if k.startswith("recall@")]
    lines += ["", "## Retrieval", ""]
    lines += markdown_table(recalls + [f"MRR@{retrieval['depth']}"],
                            [[retrieval[k] for k in recalls] + [retrieval["mrr"]]])
    lines += ["", "![recall@k](recall_at_k.png)"]
    if report["answers"] is not None:
        answers, grounding = report["answers"], report["grounding"]
        lines += ["", "## Answers", ""]
        lines += markdown_table(["EM", "F1", "chrF++", "cites gold passage", "cites anything"],
                                [[answers["exact_match"], answers["f1"], answers["chrf"],
                                  answers["cites_gold_passage"], answers["cites_anything"]]])
        lines += [""] + markdown_table([title for _, title in OVERLAP_COLUMNS],
                                       [[answers[key] for key, _ in OVERLAP_COLUMNS]])
        lines += ["", "## Grounding", "", f"- {_grounding_line(grounding)}",
                  f"- answers with no checkable sentence: {grounding['without_claims']}",
                  f"- fully supported answers: {grounding['fully_supported']}",
                  f"- badge: {_badge_line(grounding['badge'])}",
                  "", "![grounding scores](grounding_scores.png)"]
    return "\n".join(lines + [""])


def plot_recall(path: Path, retrieval: dict[str, Any]) -> None:
    """recall@k for k = 1..depth."""
    curve = retrieval["recall_curve"]
    with figure(path) as axes:
        ks = list(range(1, len(curve) + 1))
        axes.plot(ks, curve, marker="o")
        axes.set(xlabel="k (documents)", ylabel="recall@k", ylim=(0, 1.02), xticks=ks,
                 title=f"Retrieval recall@k (MRR@{retrieval['depth']} {retrieval['mrr']:.3f})")
        axes.grid(alpha=0.3)


def plot_grounding(path: Path, scores: list[float]) -> None:
    """A histogram of the answers' grounding scores (answers with claims only)."""
    with figure(path) as axes:
        axes.hist(scores, bins=[i / 20 for i in range(21)], color="tab:green", alpha=0.8)
        axes.set(xlabel="answer grounding score", ylabel="answers", xlim=(0, 1),
                 title=f"Grounding scores of {len(scores)} answers with claims")
