"""The form a constrained poem must keep: a stanza's rhyme scheme, a metre and its feet.

``--scheme`` and ``--metre`` name it, or say "auto": the author's dominant form
(the commonest quatrain scheme and the commonest metre and foot count of the
author's poems, analysed by assistant.poetry.form), else DEFAULT_FORM, the
commonest form of Russian lyric verse, with a note saying so.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from assistant.errors import SettingsError
from assistant.poetry.metre import METRES, Metre

AUTO = "auto"
# The CLI's English names; metre.py names metres as Russian verse theory does.
METRE_NAMES = {"iamb": "ямб", "trochee": "хорей", "dactyl": "дактиль",
               "amphibrach": "амфибрахий", "anapaest": "анапест", "anapest": "анапест"}
NAMED_SCHEMES = ("ABAB", "AABB", "ABBA")
_SCHEME = re.compile(r"^[A-Z-]{2,12}$")
MAX_FEET = 8
QUATRAIN = 4
ANALYSED_POEMS = 20  # the author's poems read to find the dominant form: enough for a majority


@dataclass(frozen=True)
class VerseForm:
    """One stanza's rhyme scheme ('ABAB'; '-' an unrhymed line), the metre (metre.py's
    Russian name; None: not checked) and its feet (None: any)."""

    scheme: str
    metre: str | None
    feet: int | None

    @property
    def metre_spec(self) -> Metre | None:
        return next((m for m in METRES if m.name == self.metre), None)

    def to_dict(self) -> dict:
        return {"scheme": self.scheme, "metre": self.metre, "feet": self.feet}


DEFAULT_FORM = VerseForm("ABAB", "ямб", 4)


@dataclass(frozen=True)
class FormRequest:
    """The form to write, where each part came from, and notes for the user."""

    form: VerseForm
    stanzas: int | None = None  # None: until the model's end marker
    source: str = "requested"  # 'requested', "the author's poems", 'default' (or a mix)
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class FormAsk:
    """What the user asked for, as typed: None or 'auto' for each part left to Lira."""

    scheme: str | None = None
    metre: str | None = None
    feet: int | None = None
    stanzas: int | None = None


@dataclass(frozen=True)
class DominantForm:
    """The commonest quatrain scheme and metre of some poems (None: none found)."""

    scheme: str | None
    metre: str | None
    feet: int | None
    poems: int
    schemes: frozenset[str] = frozenset()  # every quatrain scheme seen


def parse_scheme(value: str | None) -> str | None:
    """'abab' -> 'ABAB'; None or 'auto' -> None; SettingsError for anything else."""
    if value is None or value.strip().lower() == AUTO:
        return None
    scheme = value.strip().upper()
    if not _SCHEME.match(scheme) or not any(c != "-" for c in scheme):
        raise SettingsError(f"unknown rhyme scheme '{value}'; use {', '.join(NAMED_SCHEMES)}, "
                            "auto, or letters and '-' for one stanza (e.g. -A-A)")
    return relabel(scheme)


def parse_metre(value: str | None) -> str | None:
    """'iamb' (or 'ямб') -> 'ямб'; None or 'auto' -> None; SettingsError otherwise."""
    if value is None or value.strip().lower() == AUTO:
        return None
    wanted = value.strip().lower()
    if wanted in METRE_NAMES:
        return METRE_NAMES[wanted]
    if wanted in METRE_NAMES.values():
        return wanted
    raise SettingsError(f"unknown metre '{value}'; use iamb, trochee, dactyl, amphibrach, "
                        "anapaest or auto")


def relabel(scheme: str) -> str:
    """Letters renamed in order of first use: 'BCBC' -> 'ABAB' ('-' stays)."""
    names: dict[str, str] = {}
    out = []
    for c in scheme:
        if c == "-":
            out.append(c)
            continue
        names.setdefault(c, chr(ord("A") + len(names)))
        out.append(names[c])
    return "".join(out)


def quatrains(stanza_scheme: str) -> list[str]:
    """A stanza's scheme cut into quatrains, each relabelled ('ABABCDCD' -> ABAB, ABAB);
    none when its length is not a multiple of four or a rhyme crosses a cut."""
    if not stanza_scheme or len(stanza_scheme) % QUATRAIN:
        return []
    parts = [stanza_scheme[i:i + QUATRAIN] for i in range(0, len(stanza_scheme), QUATRAIN)]
    letters = [set(p) - {"-"} for p in parts]
    if any(a & b for i, a in enumerate(letters) for b in letters[i + 1:]):
        return []
    return [relabel(p) for p in parts]


def dominant_form(texts: Sequence[str]) -> DominantForm:
    """The commonest rhymed quatrain scheme and (metre, feet) of ``texts`` (poems)."""
    from assistant.poetry.form import EmptyPoem, analyze_poem

    schemes: Counter = Counter()
    metres: Counter = Counter()
    analysed = 0
    for text in texts:
        try:
            form = analyze_poem(text)
        except EmptyPoem:
            continue
        analysed += 1
        for stanza in form.rhyme_scheme.split():
            schemes.update(q for q in quatrains(stanza) if q.strip("-"))
        if form.metre:
            metres[(form.metre, form.feet)] += 1
    scheme = schemes.most_common(1)[0][0] if schemes else None
    metre, feet = metres.most_common(1)[0][0] if metres else (None, None)
    return DominantForm(scheme, metre, feet, analysed, frozenset(schemes))


def request_form(scheme: str | None, metre: str | None, feet: int | None,
                 stanzas: int | None, author: str, known: DominantForm | None) -> FormRequest:
    """The form to write: what was asked, the rest from ``known`` (the author's poems; None:
    none indexed), else DEFAULT_FORM; notes say which parts fell back and why."""
    if feet is not None and not 1 <= feet <= MAX_FEET:
        raise SettingsError(f"--feet must be 1 to {MAX_FEET}")
    if stanzas is not None and stanzas < 1:
        raise SettingsError("--stanzas must be at least 1")
    chosen_scheme, chosen_metre = parse_scheme(scheme), parse_metre(metre)
    notes: list[str] = []
    sources: set[str] = set()
    if chosen_scheme is None:
        chosen_scheme = _pick(known and known.scheme, DEFAULT_FORM.scheme, "rhyme scheme",
                              author, known, notes, sources)
    elif known and known.schemes and chosen_scheme not in known.schemes:
        notes.append(f"{author}'s indexed poems never use {chosen_scheme}; writing it anyway")
    if chosen_metre is None:
        chosen_metre = _pick(known and known.metre, DEFAULT_FORM.metre, "metre", author, known,
                             notes, sources)
    if feet is None:  # the author's feet in that metre, the default's, or any
        if known and known.metre == chosen_metre:
            feet = known.feet
        elif chosen_metre == DEFAULT_FORM.metre and "default" in sources:
            feet = DEFAULT_FORM.feet
    source = " and ".join(sorted(sources)) if sources else "requested"
    return FormRequest(VerseForm(chosen_scheme, chosen_metre, feet), stanzas, source,
                       tuple(notes))


def _pick(found: str | None, default: str, what: str, author: str, known: DominantForm | None,
          notes: list[str], sources: set[str]) -> str:
    if found:
        sources.add("the author's poems")
        return found
    sources.add("default")
    why = (f"no poems by {author} indexed" if not known or not known.poems
           else f"no clear {what} in {author}'s {known.poems} indexed poems")
    notes.append(f"{why}: {what} from the analyser's default ({default})")
    return default


def author_poems(engine, author: str, index_name: str | None,
                 limit: int = ANALYSED_POEMS) -> list[str]:
    """The texts of up to ``limit`` of ``author``'s indexed poems (their first chunks)."""
    from index.filters import Filters

    name = index_name or engine.settings.index_name
    if not author.strip() or not engine.index_exists(name):
        return []
    store = engine.open_index(name)
    try:
        ids = store.allowed_ids(Filters(author=author.strip(), kind="poem"))
        chunks = store.chunks([int(i) for i in ids[:limit * 20]]) if ids is not None else []
    finally:
        store.close()
    first: dict[tuple[str, str], tuple[int, str]] = {}
    for chunk in chunks:
        key = (chunk.path, chunk.title)
        if key not in first or chunk.start < first[key][0]:
            first[key] = (chunk.start, chunk.text)
    return [text for _, text in list(first.values())[:limit]]


_known: dict[tuple[str, ...], DominantForm] = {}  # the same poems are analysed once a process
_known_lock = threading.Lock()


def resolve_form(engine, author: str, index_name: str | None, ask: FormAsk) -> FormRequest:
    """The form to write for ``ask``: its auto parts from ``author``'s indexed poems, else
    the default; without the stress model the metre cannot be judged and is left out."""
    from assistant.poetry import stress

    texts = tuple(author_poems(engine, author, index_name))
    known = None
    if texts:
        with _known_lock:
            if texts not in _known:
                _known[texts] = dominant_form(texts)
            known = _known[texts]
    request = request_form(ask.scheme, ask.metre, ask.feet, ask.stanzas, author.strip(), known)
    if stress.available():
        return request
    note = "the stress model is not installed: metre not checked, rhymes compared by letters"
    return replace(request, form=replace(request.form, metre=None, feet=None),
                   notes=request.notes + (note,))
