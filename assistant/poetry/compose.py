"""Poem mode: a poem in an author's style, with some of the author's poems as examples.

The examples come from an index of poem corpora (documents of kind "poem"),
searched with the title as the query and filtered to the author; the prompt is
adapters.poem_template's, so an adapter trained on that template fits it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from adapters.poem_template import StyleExample, build_poem_prompt
from assistant.engine import EMPTY, MISSING, Engine
from assistant.errors import SettingsError
from assistant.poetry.constrained import FormStream
from assistant.poetry.constrained_form import FormAsk, FormRequest, resolve_form
from assistant.poetry.tidy import TidyStream
from assistant.rag import Source
from assistant.runtime.generation import Generator, TextStream
from assistant.runtime.presets import PRESETS

DEFAULT_EXAMPLES = 3


@dataclass
class PreparedPoem:
    """A poem being generated: ``stream`` yields its text; ``examples`` were shown."""

    author: str
    title: str
    prompt: str
    examples: list[Source]
    stream: TextStream
    note: str | None = None
    dropped: int = field(default=0)  # examples left out to fit the model's window
    # With a form asked for: the form to keep (``stream`` is then a FormStream, whose
    # report() gives the requested and achieved form once it is read; see constrained)
    form: FormRequest | None = None


def find_examples(engine: Engine, author: str, title: str, k: int,
                  index_name: str | None = None) -> tuple[list[Source], str | None]:
    """Up to ``k`` distinct poems of ``author`` nearest to ``title``, and a note if none."""
    from index.filters import Filters
    from index.search import SearchOptions

    name = index_name or engine.settings.index_name
    if k <= 0:
        return [], None
    searcher, missing = engine.ready_searcher(name)
    if missing == MISSING:
        return [], f"no index '{name}': writing without style examples"
    if missing == EMPTY:
        return [], f"index '{name}' is empty: writing without style examples"
    options = SearchOptions(filters=Filters(author=author, kind="poem"))
    # A long poem is several chunks: ask for more and keep one chunk per poem.
    hits = searcher.search(title, k * 3, options)
    poems, seen = [], set()
    for hit in hits:
        key = (hit.path, hit.title)
        if key in seen:
            continue
        seen.add(key)
        poems.append(Source(n=len(poems) + 1, path=hit.path, title=hit.title, author=hit.author,
                            text=hit.text, score=hit.score))
        if len(poems) == k:
            break
    note = None if poems else f"no poems by '{author}' in index '{name}': no style examples"
    return poems, note


def prepare_poem(engine: Engine, author: str, title: str, k: int = DEFAULT_EXAMPLES,
                 index_name: str | None = None, adapter: str | None = None,
                 max_new_tokens: int | None = None, temperature: float | None = None,
                 cancel: threading.Event | None = None,
                 form: FormAsk | None = None) -> PreparedPoem:
    """Find style examples, build the prompt and start streaming the poem.

    Without ``form`` the stream is cleaned of markup and stops at a footnote as it
    comes (tidy.TidyStream), a line at a time; with ``form`` the poem is written line by
    line in that form (a FormStream); notes on where the form came from join ``note``.
    """
    if not author.strip():
        raise SettingsError("no author chosen; pick one with /author")
    if not title.strip():
        raise SettingsError("the title is empty; type a title for the poem")
    examples, note = find_examples(engine, author.strip(), title.strip(), k, index_name)
    preset = PRESETS["poem"].with_overrides(max_new_tokens=max_new_tokens,
                                            temperature=temperature)
    generator = engine.generator("poem", adapter)
    prompt, used = _fitting_prompt(generator, author, title, examples, preset.max_new_tokens)
    if form is None:
        return PreparedPoem(author, title, prompt, examples[:used],
                            TidyStream(generator.stream(prompt, preset, cancel)), note,
                            dropped=len(examples) - used)
    request = resolve_form(engine, author, index_name, form)
    notes = "; ".join(([note] if note else []) + list(request.notes)) or None
    return PreparedPoem(author, title, prompt, examples[:used],
                        FormStream(generator, prompt, preset, request, cancel), notes,
                        dropped=len(examples) - used, form=request)


def _fitting_prompt(generator: Generator, author: str, title: str, examples: list[Source],
                    new_tokens: int) -> tuple[str, int]:
    """The prompt with as many examples (best first) as leave room for the poem."""
    budget = generator.loaded.context_window - new_tokens
    samples = [StyleExample(s.title, s.text) for s in examples]
    for used in range(len(samples), 0, -1):
        prompt = build_poem_prompt(author, title, samples[:used])
        if generator.count_tokens(prompt) <= budget:
            return prompt, used
    return build_poem_prompt(author, title), 0
