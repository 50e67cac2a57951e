"""A SQuAD-format file read for `lira eval rag`: paragraphs as documents, questions with gold.

Every paragraph becomes one text file, named by its article and paragraph
numbers, so that a search hit's path says which paragraph it came from however
many chunks the paragraph was cut into.  A question's gold is its paragraph.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from adapters.data_squad import article_title, is_squad
from assistant.evals.errors import EvalError
from assistant.grounding.inputs import read_text


@dataclass(frozen=True)
class QaItem:
    """A question, its gold answers, and the paragraph that holds them."""

    question: str
    answers: tuple[str, ...]
    article: str
    paragraph: str  # the paragraph's id, 'a001-p002': article 1, paragraph 2 (from 0)


@dataclass
class QaSet:
    """A SQuAD file's paragraphs (id -> text) and its answerable questions."""

    paragraphs: dict[str, str]
    questions: list[QaItem]
    skipped: int  # questions without text, answers or paragraph


def read_squad(path: Path) -> QaSet:
    """Paragraphs and questions of a SQuAD file; a bad file is a one-line error."""
    try:
        document = json.loads(read_text(path, "SQuAD"))
    except json.JSONDecodeError as exc:
        raise EvalError(f"{path} is not JSON ({exc.msg}); give a SQuAD-format file") from None
    if not is_squad(document):
        raise EvalError(f"{path} is not in SQuAD format: expected "
                        '{"data": [{"title", "paragraphs": [{"context", "qas"}]}]}')
    qa = QaSet({}, [], 0)
    articles = [a for a in document["data"] if isinstance(a, dict) and a.get("paragraphs")]
    for a, article in enumerate(articles):
        for p, paragraph in enumerate(article["paragraphs"]):
            if isinstance(paragraph, dict):
                _add_paragraph(qa, f"a{a:03d}-p{p:03d}", article_title(article, a), paragraph)
    if not qa.questions:
        raise EvalError(f"{path} has no question with an answer and a paragraph")
    return qa


def _add_paragraph(qa: QaSet, pid: str, title: str, paragraph: dict) -> None:
    context = str(paragraph.get("context") or "").strip()
    if context:
        qa.paragraphs[pid] = context
    for item in paragraph.get("qas") or []:
        item = item if isinstance(item, dict) else {}
        question = str(item.get("question") or "").strip()
        answers = [str(a.get("text") or "").strip() for a in item.get("answers") or []
                   if isinstance(a, dict)]
        if context and question and any(answers):
            qa.questions.append(QaItem(question, tuple(a for a in answers if a), title, pid))
        else:
            qa.skipped += 1


def write_paragraphs(qa: QaSet, folder: Path) -> dict[str, str]:
    """Each paragraph as ``folder/ID.txt``; returns the files' resolved paths by id."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for pid, text in qa.paragraphs.items():
        file = folder / f"{pid}.txt"
        file.write_text(text, encoding="utf-8")
        paths[pid] = str(file.resolve())
    return paths
