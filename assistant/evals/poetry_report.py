"""What `lira eval poetry` writes and prints: the side-by-side page, per-author plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.evals.gen_metrics import OVERLAP_COLUMNS
from assistant.evals.report import figure, markdown_table, write_report

# (key in the scores, column heading), in the order the tables show them
COLUMNS = [("chrf", "chrF++"), ("scheme_exact", "scheme exact"),
           ("line_agreement", "rhyme line agreement"), ("rhymed", "rhymed lines"),
           ("line_count_ratio", "line-count ratio"), ("self_stop_rate", "self-stop"),
           ("distinct_1", "distinct-1"), ("distinct_2", "distinct-2")] + OVERLAP_COLUMNS
LABELS = ("adapter", "base")
_COLOURS = {"adapter": "tab:blue", "base": "tab:grey"}


def write_poetry_report(out: Path, report: dict[str, Any]) -> list[Path]:
    """report.json, summary.md, chrf_by_author.png, rhyme_by_author.png (and search.png)."""
    models = report["models"]
    plots = {"chrf_by_author.png": lambda path: plot_by_author(path, models, "chrf", "chrF++"),
             "rhyme_by_author.png": lambda path: plot_by_author(
                 path, models, "line_agreement", "rhyme line agreement")}
    if report["search"]:
        plots["search.png"] = lambda path: plot_search(path, report["search"])
    return write_report(out, report, summary_markdown(report), plots)


def figures(report: dict[str, Any]) -> dict[str, Any]:
    """The report without its per-poem records: what --json prints."""
    return {key: value for key, value in report.items() if key != "poems"}


def summary_lines(report: dict[str, Any]) -> list[str]:
    """Adapter and base side by side, and the search's outcome, for the terminal."""
    lines = [f"{report['n']} held-out poems; adapter: {report['setup']['adapter']}"]
    lines += _side_by_side(report, COLUMNS[:3] + COLUMNS[4:6])
    lines += _side_by_side(report, OVERLAP_COLUMNS)
    if report["search"]:
        lines += _search_lines(report["search"])
    return lines


def _side_by_side(report: dict[str, Any], shown: list[tuple[str, str]]) -> list[str]:
    """A heading row and one row per model of the overall figures ``shown``."""
    lines = [f"{'':<8}" + "".join(f"{title:>22}" for _, title in shown)]
    for label in LABELS:
        scores = report["models"][label]["overall"]
        lines.append(f"{label:<8}" + "".join(f"{scores[key]:>22}" for key, _ in shown))
    return lines


def _search_lines(search: dict[str, Any]) -> list[str]:
    best, test = search["best"], search["test"]
    params = ", ".join(f"{k}={v}" for k, v in best["params"].items())
    return [(f"search: {len(search['trials'])} trials, best #{best['number']} dev chrF++ "
             f"{best['dev_chrf']:.2f} ({params})"),
            (f"test split ({len(search['split']['test'])} poems): chrF++ best "
             f"{test['best']['chrf']:.2f} vs default preset {test['default']['chrf']:.2f}")]


def summary_markdown(report: dict[str, Any]) -> str:
    """The setup, the side-by-side tables overall and per author, and the search."""
    lines = ["# Poems for held-out (author, title) pairs: adapter and base", "",
             f"- held-out poems: {report['n']}"]
    lines += [f"- {key.replace('_', ' ')}: {value}" for key, value in report["setup"].items()]
    header = ["model"] + [title for _, title in COLUMNS]
    lines += ["", "## Overall", ""]
    lines += markdown_table(header, [[label] + [report["models"][label]["overall"][key]
                                                for key, _ in COLUMNS] for label in LABELS])
    lines += ["", "## Per author", ""]
    rows = []
    for author in report["models"]["base"]["per_author"]:
        for label in LABELS:
            scores = report["models"][label]["per_author"][author]
            rows.append([author, label, scores["n"]] + [scores[key] for key, _ in COLUMNS])
    lines += markdown_table(["author", "model", "poems"] + header[1:], rows)
    lines += ["", "![chrF++ per author](chrf_by_author.png)",
              "![rhyme agreement per author](rhyme_by_author.png)"]
    if report["search"]:
        lines += _search_markdown(report["search"])
    return "\n".join(lines + [""])


def _search_markdown(search: dict[str, Any]) -> list[str]:
    params = sorted(search["best"]["params"])
    lines = ["", "## Sampling search", "",
             (f"- {search['objective']}, {len(search['trials'])} trials (Optuna TPE, seed "
              f"{search['seed']}), on the {search['model']} model"),
             (f"- dev split: {len(search['split']['dev'])} poems; test split: "
              f"{len(search['split']['test'])} poems (disjoint)"), ""]
    lines += markdown_table(["trial"] + params + ["dev chrF++"],
                            [[t["number"]] + [t["params"][p] for p in params] + [t["dev_chrf"]]
                             for t in search["trials"]])
    lines += ["", f"Best: trial {search['best']['number']}. On the test split:", ""]
    lines += markdown_table(["preset"] + [title for _, title in COLUMNS],
                            [[name] + [search["test"][name][key] for key, _ in COLUMNS]
                             for name in ("best", "default")])
    return lines + ["", "![search trials](search.png)"]


def plot_by_author(path: Path, models: dict[str, Any], key: str, title: str) -> None:
    """Grouped bars: one group per author, adapter and base side by side."""
    authors = list(models["base"]["per_author"])
    with figure(path, (max(6.0, 1.2 * len(authors) + 2), 4)) as axes:
        width = 0.38
        for offset, label in zip((-width / 2, width / 2), LABELS):
            values = [models[label]["per_author"][a][key] for a in authors]
            axes.bar([i + offset for i in range(len(authors))], values, width,
                     label=label, color=_COLOURS[label])
        axes.set_xticks(range(len(authors)), authors, rotation=20, ha="right")
        axes.set(ylabel=title, title=f"{title} per author")
        axes.legend()


def plot_search(path: Path, search: dict[str, Any]) -> None:
    """Dev chrF++ of each trial, the best so far, and the test scores of both presets."""
    from matplotlib.ticker import MaxNLocator

    scores = [t["dev_chrf"] for t in search["trials"]]
    with figure(path) as axes:
        numbers = list(range(len(scores)))
        axes.plot(numbers, scores, "o", label="trial (dev)")
        axes.plot(numbers, [max(scores[:i + 1]) for i in numbers], "-", label="best so far")
        for name, style in (("default", ":"), ("best", "--")):
            axes.axhline(search["test"][name]["chrf"], linestyle=style, color="grey",
                         label=f"{name} preset (test)")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set(xlabel="trial", ylabel="chrF++", title="Sampling search")
        axes.legend()
