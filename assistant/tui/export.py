"""A conversation as a Markdown document, sources included: one entry per document
(assistant.source_groups), with its rank and relevance, the answer citing those numbers."""

from __future__ import annotations

from collections.abc import Sequence

from assistant.chat.history import StoredMessage
from assistant.chat.modes import Mode
from assistant.source_groups import Document, group_sources, one_per_source
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
        poem = message.mode == Mode.POEM
        groups = one_per_source(message.sources) if poem else group_sources(message.sources)
        lines += [_answer_heading(message), ""]
        text = groups.renumber(message.text.strip()) or "*(пустой ответ)*"
        lines += [text.replace("\n", "  \n") if poem else text, ""]
        if not message.complete:
            lines += ["*(ответ прерван)*", ""]
        if groups.documents:
            lines += ["**Образцы стиля**" if poem else "**Источники**", ""]
            for document in groups.documents:
                lines += [_document_line(document), ""]
                lines += [part for passage in document.passages
                          for part in (_quote(passage.text, indent="   "), "")]
    return "\n".join(lines).rstrip() + "\n"


def _document_line(document: Document) -> str:
    """'n. «title», author — `path` (место r, релевантность 0.98)'."""
    byline = f", {document.author}" if document.author else ""
    return (f"{document.n}. «{document.name}»{byline} — `{document.path}` "
            f"(место {document.rank}, релевантность {document.relevance:.2f})")


def _answer_heading(message: StoredMessage) -> str:
    model = message.model.model.rsplit("/", 1)[-1] if message.model.model else "модель"
    adapter = f" + {message.model.adapter}" if message.model.adapter else ""
    return f"**Лира** ({MODE_LABELS.get(message.mode, message.mode)}; {model}{adapter}):"


def _quote(text: str, indent: str = "") -> str:
    return "\n".join(f"{indent}> {line}".rstrip() for line in text.strip().splitlines())
