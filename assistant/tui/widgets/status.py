"""The status bar: model state on the left; background task and last answer's speed on the right."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Static

from assistant.chat.history import AnswerStats, ModelUsed


def model_label(model: ModelUsed) -> str:
    """'gemma-3-270m · без адаптера · CPU'."""
    name = Path(model.model).name if "/" in model.model else model.model
    adapter = f"адаптер {model.adapter}" if model.adapter else "без адаптера"
    device = "GPU" if model.device.startswith("cuda") else "CPU"
    return f"{name} · {adapter} · {device}"


def speed_label(stats: AnswerStats) -> str:
    """'16.7 ток/с · 1-й токен 0.42 с' for the last answer."""
    first = f"{stats.first_token_s:.2f} с" if stats.first_token_s is not None else "—"
    return f"{stats.tokens_per_s:.1f} ток/с · 1-й токен {first}"


class StatusBar(Horizontal):
    """One line under the message box."""

    def compose(self) -> ComposeResult:
        yield Static("", id="status-model")
        yield Static("", id="status-task")
        yield Static("", id="status-speed")

    def loading(self, what: str = "модели") -> None:
        self.query_one("#status-model", Static).update(
            Content.assemble(("◌ ", "$warning"), f"загрузка {what}…"))

    def ready(self, model: ModelUsed) -> None:
        self.query_one("#status-model", Static).update(
            Content.assemble(("● ", "$success"), model_label(model)))

    def failed(self) -> None:
        self.query_one("#status-model", Static).update(
            Content.assemble(("✗ ", "$error"), "модель не загружена"))

    def task(self, text: str) -> None:
        self.query_one("#status-task", Static).update(text)

    def speed(self, stats: AnswerStats | None) -> None:
        text = speed_label(stats) if stats is not None and stats.new_tokens else ""
        self.query_one("#status-speed", Static).update(text)
