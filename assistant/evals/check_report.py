"""What `lira eval check --out DIR` writes: report.json, summary.md and scores.png."""

from __future__ import annotations

from pathlib import Path

from assistant.evals.report import figure, write_report
from assistant.grounding.scoring import VERDICTS

_COLOURS = {"supported": "tab:green", "contradicted": "tab:red", "unsupported": "tab:orange"}


def write_check_report(out: Path, metrics: dict, items: list, judged: list,
                       setup: dict) -> list[Path]:
    """Write the three files into ``out`` (created if needed); returns their paths."""
    rows = [{"claim": i.claim, "label": i.label, **v.to_dict(details=True)}
            for i, v in zip(items, judged)]
    labels, scores = [i.label for i in items], [v.score for v in judged]
    return write_report(out, {**metrics, "setup": setup, "claims": rows},
                        summary_markdown(metrics, setup),
                        {"scores.png": lambda path: plot_scores(path, labels, scores)})


def summary_markdown(metrics: dict, setup: dict) -> str:
    """The metrics as a short Markdown page with the confusion matrix."""
    auc = "n/a (one class only)" if metrics["roc_auc"] is None else f"{metrics['roc_auc']:.3f}"
    lines = ["# Grounding check on labelled claims", "",
             f"- claims: {metrics['n']}",
             f"- ROC-AUC (supported vs the rest, by claim score): {auc}",
             f"- accuracy (3-way verdict): {metrics['accuracy']:.3f}"]
    lines += [f"- {key}: {value}" for key, value in setup.items()]
    lines += ["", "| gold \\ predicted | " + " | ".join(VERDICTS) + " | class accuracy |",
              "|---|" + "---|" * (len(VERDICTS) + 1)]
    for gold in VERDICTS:
        accuracy = metrics["per_class"][gold]
        cells = [str(metrics["confusion"][gold][p]) for p in VERDICTS]
        shown = "-" if accuracy is None else f"{accuracy:.3f}"
        lines.append(f"| {gold} | " + " | ".join(cells) + f" | {shown} |")
    lines += ["", "![claim scores per gold label](scores.png)", ""]
    return "\n".join(lines)


def plot_scores(path: Path, labels: list[str], scores: list[float]) -> None:
    """A histogram of claim scores, one colour per gold label."""
    with figure(path) as axes:
        bins = [i / 20 for i in range(21)]
        for label in VERDICTS:
            values = [s for g, s in zip(labels, scores) if g == label]
            if values:
                axes.hist(values, bins=bins, alpha=0.55, label=f"{label} ({len(values)})",
                          color=_COLOURS[label])
        axes.axvline(0.5, color="grey", linestyle="--", linewidth=1)
        axes.set(xlabel="claim score", ylabel="claims", title="Grounding scores by gold label")
        axes.legend(loc="upper center")
