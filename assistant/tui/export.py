"""A conversation as a Markdown document, sources included."""

from __future__ import annotations

from collections.abc import Sequence

from assistant.chat.history import StoredMessage
from assistant.chat.modes import Mode
from assistant.tui.session import MODE_LABELS


def conversation_markdown(title: str, messages: Sequence[StoredMessage]) -> str:
    """Questions as sections, answers under them, then each answer's sources quoted."""
    lines = [f"# {title or 'Разговор с Лирой'}", ""]
    for message in messages:
        if message.role == "user":
            heading = (f"Стихотворение «{message.text}» в стиле: {message.author or '—'}"
                       if message.mode == Mode.POEM else message.text.splitlines()[0][:120])
            lines += [f"## {heading}", ""]
            if message.mode != Mode.POEM and "\n" in message.text.strip():
                lines += [_quote(message.text), ""]
            continue
        lines += [_answer_heading(message), ""]
        text = message.text.strip() or "*(пустой ответ)*"
        lines += [text.replace("\n", "  \n") if message.mode == Mode.POEM else text, ""]
        if not message.complete:
            lines += ["*(ответ прерван)*", ""]
        if message.sources:
            lines += ["**Образцы стиля**" if message.mode == Mode.POEM else "**Источники**", ""]
            for source in message.sources:
                byline = f", {source.author}" if source.author else ""
                lines.append(f"{source.n}. «{source.title}»{byline} — `{source.path}` "
                             f"(оценка {source.score:.3f})")
                lines += ["", _quote(source.text, indent="   "), ""]
    return "\n".join(lines).rstrip() + "\n"


def _answer_heading(message: StoredMessage) -> str:
    model = message.model.model.rsplit("/", 1)[-1] if message.model.model else "модель"
    adapter = f" + {message.model.adapter}" if message.model.adapter else ""
    return f"**Лира** ({MODE_LABELS.get(message.mode, message.mode)}; {model}{adapter}):"


def _quote(text: str, indent: str = "") -> str:
    return "\n".join(f"{indent}> {line}".rstrip() for line in text.strip().splitlines())
