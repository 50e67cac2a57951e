"""SQuAD-format QA turned into grounded-answer examples.

For every question the gold paragraph and one to three other paragraphs of
the same article are shuffled and numbered into the product's RAG prompt; the
target is the short answer followed by the gold passage's number, "Москва [2]".
The last ``holdout_articles`` articles are kept out of training altogether, so
that they can measure the adapter later.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from adapters.errors import TrainingDataError
from adapters.examples import Example
from adapters.rag_prompt import Source, build_rag_prompt

MAX_DISTRACTORS = 3


@dataclass
class SquadData:
    """Examples from a SQuAD file, and the articles held out."""

    examples: list[Example]
    holdout: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0


def is_squad(document: Any) -> bool:
    """Whether parsed JSON is a SQuAD file (``data[].paragraphs[]``)."""
    return (isinstance(document, dict) and isinstance(document.get("data"), list)
            and any(isinstance(a, dict) and "paragraphs" in a for a in document["data"]))


def squad_examples(document: dict, seed: int, holdout_articles: int = 0) -> SquadData:
    """Grounded-answer examples from a parsed SQuAD file."""
    articles = [a for a in document["data"] if isinstance(a, dict) and a.get("paragraphs")]
    if holdout_articles >= len(articles) > 0:
        raise TrainingDataError(f"--holdout-articles {holdout_articles} leaves no article to train "
                                f"on (the file has {len(articles)}); use a smaller number")
    cut = len(articles) - holdout_articles
    rng = random.Random(seed)
    data = SquadData(examples=[])
    for number, article in enumerate(articles):
        title = article_title(article, number)
        if number >= cut:
            data.holdout.append({"article": number, "title": title,
                                 "questions": sum(len(p.get("qas", []))
                                                  for p in article["paragraphs"])})
            continue
        _article_examples(article, title, rng, data)
    return data


@dataclass(frozen=True)
class HeldOutQuestion:
    """A question of a held-out article, in the training prompt, with its gold answers."""

    question: str
    prompt: str
    answers: tuple[str, ...]
    cited: int  # the number the gold passage has in the prompt
    article: str


def holdout_questions(document: dict, seed: int, holdout_articles: int) -> list[HeldOutQuestion]:
    """The questions of the last ``holdout_articles`` articles, prompted as in training."""
    articles = [a for a in document["data"] if isinstance(a, dict) and a.get("paragraphs")]
    first = max(len(articles) - holdout_articles, 0)
    rng = random.Random(seed)
    items = []
    for number in range(first, len(articles)):
        article, title = articles[number], article_title(articles[number], number)
        contexts = [p.get("context", "") for p in article["paragraphs"]]
        for index, paragraph in enumerate(article["paragraphs"]):
            for qa in paragraph.get("qas", []):
                answers = tuple(a.get("text", "").strip() for a in qa.get("answers", [])
                                if isinstance(a, dict) and a.get("text", "").strip())
                question = str(qa.get("question", "")).strip()
                if question and answers and contexts[index].strip():
                    example = _grounded_example(question, answers[0], index, contexts, title, rng)
                    cited = int(example.answer.rsplit("[", 1)[1].rstrip("]"))
                    items.append(HeldOutQuestion(question, example.prompt, answers, cited, title))
    return items


def _article_examples(article: dict, title: str, rng: random.Random, data: SquadData) -> None:
    contexts = [p.get("context", "") for p in article["paragraphs"]]
    for index, paragraph in enumerate(article["paragraphs"]):
        for qa in paragraph.get("qas", []):
            answers = [a.get("text", "").strip() for a in qa.get("answers", []) if isinstance(a, dict)]
            question = str(qa.get("question", "")).strip()
            if not question or not answers or not answers[0] or not contexts[index].strip():
                data.skipped += 1
                continue
            data.examples.append(_grounded_example(question, answers[0], index, contexts,
                                                   title, rng))


def _grounded_example(question: str, answer: str, gold: int, contexts: list[str], title: str,
                      rng: random.Random) -> Example:
    others = [i for i, text in enumerate(contexts) if i != gold and text.strip()]
    count = rng.randint(1, min(MAX_DISTRACTORS, len(others))) if others else 0
    chosen = rng.sample(others, count) + [gold]
    rng.shuffle(chosen)
    sources = [Source(n=n, path="", title=title, author="", text=contexts[i], score=0.0)
               for n, i in enumerate(chosen, 1)]
    cited = chosen.index(gold) + 1
    return Example(prompt=build_rag_prompt(question, sources), answer=f"{answer} [{cited}]",
                   group=title)


def article_title(article: dict, number: int) -> str:
    """A SQuAD article's title, underscores made spaces ("Статья N" for the N-th without one)."""
    title = str(article.get("title") or "").replace("_", " ").strip()
    return title or f"Статья {number + 1}"
