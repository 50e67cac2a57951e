"""The session settings dialog: k, temperature, answer length, how answers are decoded,
adapter, index."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.validation import Number
from textual.widgets import Button, Input, Label, Static

from assistant.settings import DecodingSettings, is_index_name
from assistant.tui.session import Session

NO_ADAPTER_WORDS = ("", "none", "нет")


@dataclass(frozen=True)
class SettingsChange:
    """The values the dialog was saved with."""

    k: int
    temperature: float
    max_new_tokens: int
    adapter: str | None  # None: the profile's own adapter; "none": the bare model
    index_name: str
    decoding: DecodingSettings = field(default_factory=DecodingSettings)


def adapter_from_text(text: str) -> str | None:
    """What the adapter field means: empty is the profile's default, 'нет' is none."""
    text = text.strip()
    if text == "":
        return None
    return "none" if text.casefold() in NO_ADAPTER_WORDS else text


class SettingsScreen(ModalScreen[SettingsChange | None]):
    """Edits this session's settings (lira.toml is left as it is)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Отмена")]

    FIELDS = (
        ("k", "Фрагментов (k), 1–20", Number(minimum=1, maximum=20), "integer"),
        ("temperature", "Температура (стихи), 0.05–2", Number(minimum=0.05, maximum=2.0),
         "number"),
        ("max_new_tokens", "Предел длины ответа, токенов", Number(minimum=1, maximum=4096),
         "integer"),
    )

    # How answers and chat replies are decoded (assistant.settings.DecodingSettings): empty
    # keeps the preset's value; a temperature, top-k or top-p turns sampling on.
    DECODING_FIELDS = (
        ("temperature", "Ответы: температура, 0.05–2", Number(minimum=0.05, maximum=2.0), "number"),
        ("top_k", "Ответы: top-k, 0–1000", Number(minimum=0, maximum=1000), "integer"),
        ("top_p", "Ответы: top-p, 0.01–1", Number(minimum=0.01, maximum=1.0), "number"),
        ("repetition_penalty", "Ответы: штраф за повтор, 1–2", Number(minimum=1.0, maximum=2.0),
         "number"),
        ("num_beams", "Ответы: лучей, 1–16", Number(minimum=1, maximum=16), "integer"),
    )

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        values = {"k": str(self.session.k), "temperature": str(self.session.temperature),
                  "max_new_tokens": str(self.session.max_new_tokens)}
        with Vertical(classes="dialog", id="settings-box"):
            yield Static("Настройки сеанса", classes="dialog-title")
            for key, label, validator, kind in self.FIELDS:
                with Horizontal(classes="field"):
                    yield Label(label)
                    yield Input(values[key], id=f"set-{key}", type=kind, validators=[validator],
                                compact=True)
            for key, label, validator, kind in self.DECODING_FIELDS:
                value = getattr(self.session.decoding, key)
                with Horizontal(classes="field"):
                    yield Label(label)
                    yield Input("" if value is None else str(value), id=f"set-decoding-{key}", type=kind,
                                validators=[validator], placeholder="как в пресете", compact=True)
            with Horizontal(classes="field"):
                yield Label(f"Адаптер ({'стихи' if self.session.profile == 'poem' else 'чат'}),"
                            " папка или «нет»")
                yield Input(self.session.adapter or "", id="set-adapter",
                            placeholder="как в настройках", compact=True)
            with Horizontal(classes="field"):
                yield Label("Индекс (документы и стихи)")
                yield Input(self.session.index_name, id="set-index", compact=True)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Сохранить", id="save", variant="primary", compact=True)
                yield Button("Отмена", id="cancel", compact=True)
            yield Static("Действует до выхода; постоянные настройки — в lira.toml.",
                         classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#set-k", Input).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self._save()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._save()

    def _save(self) -> None:
        inputs = {key: self.query_one(f"#set-{key}", Input) for key, *_ in self.FIELDS}
        decoding = {key: self.query_one(f"#set-decoding-{key}", Input) for key, *_ in self.DECODING_FIELDS}
        labels = {key: label for key, label, *_ in self.FIELDS + self.DECODING_FIELDS}
        checked = list(inputs.items()) + [(k, w) for k, w in decoding.items() if w.value.strip()]
        for key, widget in checked:
            result = widget.validate(widget.value)
            if result is not None and not result.is_valid:
                self.notify(f"{labels[key]}: недопустимое значение «{widget.value}».",
                            severity="error")
                widget.focus()
                return
        index_name = self.query_one("#set-index", Input).value.strip()
        if not is_index_name(index_name):
            self.notify("Имя индекса: до 64 букв, цифр, «-», «_» или «.», не с точки и без «/».",
                        severity="error")
            return
        self.dismiss(SettingsChange(
            k=int(inputs["k"].value), temperature=float(inputs["temperature"].value),
            max_new_tokens=int(inputs["max_new_tokens"].value),
            adapter=adapter_from_text(self.query_one("#set-adapter", Input).value),
            index_name=index_name, decoding=self._decoding(decoding)))

    def _decoding(self, inputs: dict[str, Input]) -> DecodingSettings:
        """The dialog's decoding fields over the session's (an empty field: the preset's)."""
        kinds = {key: kind for key, _, _, kind in self.DECODING_FIELDS}
        values = {key: None if not w.value.strip() else (int if kinds[key] == "integer" else float)(w.value)
                  for key, w in inputs.items()}
        return replace(self.session.decoding, **values)
