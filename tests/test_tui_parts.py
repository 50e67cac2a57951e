"""The chat app's pure parts: commands, citation links, highlighting, export, labels."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from assistant.chat.history import AnswerStats, ModelUsed, StoredMessage
from assistant.rag import Source
from assistant.tui.answer_markup import citation_number, link_citations, verse_lines
from assistant.tui.commands import (
    CommandError,
    is_command,
    parse_command,
    unescape_message,
)
from assistant.tui.export import conversation_markdown
from assistant.tui.highlight import matching_spans
from assistant.tui.screens.author import best_author, matching_authors
from assistant.tui.screens.settings import adapter_from_text
from assistant.tui.session import mode_from_word, next_mode
from assistant.tui.widgets.status import model_label, speed_label
from index.fusion import fused_relevance
from tests.conftest import REPO
from tests.tui_fakes import FakeStream


def test_slash_commands_parse_with_quoted_paths():
    command = parse_command('/index "~/my books" poems --ruslit')
    assert command.name == "index" and command.positional == ("~/my books", "poems")
    assert command.flag("--ruslit")
    assert parse_command("/AUTHOR Александр Пушкин").rest == "Александр Пушкин"
    assert parse_command('/export "unclosed').args == ('"unclosed',)
    with pytest.raises(CommandError, match="Неизвестная команда /nope"):
        parse_command("/nope")


def test_double_slash_is_a_message():
    assert is_command("/help") and not is_command("//help") and not is_command("help")
    assert unescape_message("//help") == "/help" and unescape_message("hi") == "hi"


def test_modes_in_both_languages():
    assert mode_from_word("Документы") == "documents" and mode_from_word("poem") == "poem"
    assert mode_from_word("чат") == "chat" and mode_from_word("что-то") is None
    assert [next_mode(m) for m in ("chat", "documents", "poem")] == ["documents", "poem",
                                                                     "chat"]


def test_citations_become_links_only_for_known_sources():
    text = "Основан в 1703 [1], столица [2, 3]; ещё [7] и [a]."
    linked = link_citations(text, 3)
    assert "[[1](cite:1)]" in linked and "[[2](cite:2), [3](cite:3)]" in linked
    assert "[7]" in linked and "[a]" in linked and "cite:7" not in linked
    assert link_citations(text, 0) == text
    assert citation_number("cite:2") == 2 and citation_number("https://x") is None


def test_verse_lines_keep_line_breaks():
    assert verse_lines("раз\nдва\n\nтри") == "раз  \nдва  \n  \nтри"


def test_question_words_are_found_by_stem():
    passage = "Петербург основан Петром. В Петербурге и в основании города — Нева."
    spans = matching_spans(passage, "Когда был основан Петербург?")
    marked = [passage[a:b] for a, b in spans]
    assert marked == ["Петербург", "основан", "Петербурге"]
    assert matching_spans(passage, "и в на") == []  # function words are never marked


def test_author_type_ahead():
    authors = [("Александр Пушкин", 3), ("Михаил Лермонтов", 2), ("Александр Блок", 1)]
    assert [a for a, _ in matching_authors(authors, "бло")] == ["Александр Блок"]
    assert [a for a, _ in matching_authors(authors, "ал")] == ["Александр Пушкин",
                                                               "Александр Блок"]
    # A word start beats a match inside a word.
    assert [a for a, _ in matching_authors(authors + [("Иван Локтев", 1)], "лок")] == [
        "Иван Локтев", "Александр Блок"]
    assert best_author(authors, "пушкин") == "Александр Пушкин"
    assert best_author(authors, "александр блок") == "Александр Блок"
    assert best_author(authors, "Бунин") is None


def test_adapter_field_meanings():
    assert adapter_from_text("") is None
    assert adapter_from_text("нет") == "none" and adapter_from_text("None") == "none"
    assert adapter_from_text(" /a/b ") == "/a/b"


def test_status_labels():
    assert model_label(ModelUsed("/models/gemma-3-270m", "lora-poems", "cuda")) == \
        "gemma-3-270m · адаптер lora-poems · GPU"
    assert model_label(ModelUsed("gemma-3-270m", "", "cpu")) == "gemma-3-270m · без адаптера · CPU"
    assert speed_label(AnswerStats(10, 21, 0.5, 2.5)) == "10.0 ток/с · 1-й токен 0.50 с"


def test_export_has_questions_answers_and_quoted_sources():
    source = Source(1, "/d/spb.md", "Петербург", "Карамзин", "Основан в 1703.\nНа Неве.", 0.03)
    # a second chunk of the same file: one document, the answer citing its number
    later = Source(2, "/d/spb.md", "Петербург", "Карамзин", "Белые ночи.", 0.016)
    messages = [
        StoredMessage(1, 1, "user", "documents", "Когда основан Петербург?"),
        StoredMessage(2, 1, "assistant", "documents", "В 1703 году [1]. Белые ночи [2].",
                      model=ModelUsed("/m/gemma", "lora", "cpu"), sources=[source, later]),
        StoredMessage(3, 1, "user", "poem", "Осень", author="Пушкин"),
        StoredMessage(4, 1, "assistant", "poem", "Строка одна\nСтрока две", complete=False),
    ]
    text = conversation_markdown("Петербург", messages)
    assert text.startswith("# Петербург\n")
    assert "## Когда основан Петербург?" in text
    assert "**Лира** (Документы; gemma + lora):" in text
    assert "В 1703 году [1]. Белые ночи [1]." in text
    relevance = fused_relevance(source.score)  # a share of the best RRF score possible
    assert f"1. «Петербург», Карамзин — `/d/spb.md` (место 1, релевантность {relevance:.2f})" in text
    assert "2. «" not in text and "оценка" not in text  # the raw RRF score is gone
    assert "   > Основан в 1703.\n   > На Неве.\n\n   > Белые ночи." in text
    assert "## Стихотворение «Осень» в стиле: Пушкин" in text
    assert "Строка одна  \nСтрока две" in text and "*(ответ прерван)*" in text


def test_the_app_module_imports_nothing_heavy():
    probe = ("import sys, assistant.tui.app, assistant.chat.backend, assistant.cli; "
             "print(sorted(m for m in ('torch', 'transformers', 'faiss', 'peft', 'numpy', "
             "'sentence_transformers') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_lira_chat_starts_the_app_in_a_terminal(lira_home, monkeypatch):
    from assistant import cli
    from assistant.tui.app import LiraApp

    started = {}

    def fake_run(self):
        started.update(mode=self.session.mode, author=self.session.author, resume=self.resume,
                       theme=self.theme, index=self.session.index_name)

    monkeypatch.setattr(LiraApp, "run", fake_run)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    assert cli.main(["chat", "--resume", "--theme", "light", "--name", "books"]) == 0
    assert started == {"mode": "chat", "author": None, "resume": True, "theme": "textual-light",
                       "index": "books"}  # no index 'books' yet: chat mode
    assert cli.main(["chat", "--author", "Пушкин"]) == 0
    assert started["mode"] == "poem" and started["author"] == "Пушкин"


def test_lira_chat_without_a_terminal_is_the_plain_loop(lira_home, monkeypatch, capsys):
    import io

    from assistant import cli

    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert cli.main(["chat"]) == 0
    assert "Лира: задайте вопрос" in capsys.readouterr().out


def test_the_tui_tests_fake_stream_stops_when_cancelled():
    cancel = threading.Event()
    stream = FakeStream(["a", "b", "c"], cancel, None, None, 0.0)
    out = []
    for piece in stream:
        out.append(piece)
        cancel.set()
    assert out == ["a"] and stream.stats.stopped_by == "cancelled"
