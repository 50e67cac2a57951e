"""What every `lira eval ... --out DIR` writes: report.json, summary.md and PNG plots.

The commands differ in their figures, not in how they are written: a JSON
report with every number and per-item record, a short Markdown page that
embeds the plots, and the plots themselves, drawn off-screen.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from assistant.evals.errors import EvalError

Plot = Callable[[Path], None]  # draws one figure into the given PNG path


def write_report(out: Path, report: dict[str, Any], summary: str,
                 plots: Mapping[str, Plot]) -> list[Path]:
    """Write report.json, summary.md and each plot (file name -> drawing) into ``out``."""
    output_folder(out)
    paths = [out / "report.json", out / "summary.md"]
    paths[0].write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    paths[1].write_text(summary, encoding="utf-8")
    for name, draw in plots.items():
        draw(out / name)
        paths.append(out / name)
    return paths


def output_folder(out: Path) -> Path:
    """``out``, created if needed; a folder that cannot be made is a one-line error."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvalError(f"cannot create {out} ({exc.strerror or exc}); "
                        "give a writable --out folder") from None
    return out


@contextmanager
def figure(path: Path, size: tuple[float, float] = (7, 4)) -> Iterator[Any]:
    """Axes of a new figure, saved to ``path`` and closed when the block ends."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display here, and none wanted
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(figsize=size)
    try:
        yield axes
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)


def markdown_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """A Markdown table's lines; floats shown with three decimals, None as '-'."""
    def cell(value: Any) -> str:
        if value is None:
            return "-"
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
