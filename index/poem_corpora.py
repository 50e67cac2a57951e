"""Poem corpora: one document per poem, found by looking at the content.

* PoetryCorpus XML: ``<items><item><name/><author/><text/><date_from/>
  <date_to/><themes><item/></themes></item>...</items>``;
* its Django dump: ``[{"model": "corpus.Poem", "fields": {"name", "author",
  "text", "date_from", "date_to", "themes"}}, ...]`` (other models are passed over);
* JSON lines with ``author``, ``title`` (or ``name``), ``text`` and ``year``
  (or ``date_from``) in each record.

A poem without a name is called by its first line, as PoetryCorpus does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from index.charsets import decode_text
from index.documents import Document, Skip, error_summary

_SNIFF = 4096  # bytes looked at before parsing a whole file


def parse_poem_corpus(path: Path, data: bytes) -> list[Document]:
    """The poems of an .xml, .json or .jsonl corpus; Skip if the file is not one."""
    suffix = path.suffix.lower()
    if suffix == ".xml":
        records = _poetrycorpus_xml(data)
    elif suffix == ".json":
        records = _django_json(data)
    elif suffix == ".jsonl":
        records = _json_lines(data)
    else:
        raise Skip(f"unsupported type '{path.suffix}'")
    docs = []
    for record in records:
        text = _text(record.get("text"))
        if not text:
            continue
        title = " ".join(_text(record.get("title") or record.get("name")).split()) or _first_line(text)
        year = _year(record.get("year")) or _year(record.get("date_from")) or _year(record.get("date_to"))
        docs.append(Document(path=str(path), text=text, title=title, kind="poem",
                             author=" ".join(_text(record.get("author")).split()), year=year,
                             part=len(docs)))
    if not docs:
        raise Skip("no poems in the corpus")
    return docs


def _poetrycorpus_xml(data: bytes) -> list[dict]:
    from lxml import etree

    if b"<items" not in data[:_SNIFF]:
        raise Skip("XML that is not a poem corpus (expected PoetryCorpus <items>)")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise Skip(f"broken XML (error at line {exc.lineno})") from None
    items = [i for i in root if i.tag == "item"] if root.tag == "items" else []
    if not items or items[0].find("text") is None:
        raise Skip("XML that is not a poem corpus (expected PoetryCorpus <items> of <item><text>)")
    # findtext looks at an item's own children only, so the <item>s of <themes> do not mix in.
    return [{field: item.findtext(field) for field in ("name", "author", "text", "date_from", "date_to")}
            for item in items]


def _django_json(data: bytes) -> list[dict]:
    if b"corpus.Poem" not in data:
        raise Skip("JSON that is not a poem corpus (expected a PoetryCorpus dump of corpus.Poem)")
    try:
        entries = json.loads(decode_text(data))
    except ValueError as exc:
        raise Skip(f"broken JSON ({error_summary(exc)})") from None
    poems = [e["fields"] for e in entries if isinstance(e, dict) and e.get("model") == "corpus.Poem"
             and isinstance(e.get("fields"), dict)] if isinstance(entries, list) else []
    if not poems:
        raise Skip("JSON that is not a poem corpus (expected a PoetryCorpus dump of corpus.Poem)")
    return poems


def _json_lines(data: bytes) -> list[dict]:
    records = []
    for n, line in enumerate(decode_text(data).splitlines()):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            if not records:
                raise Skip(f"broken JSON lines (line {n + 1} is not JSON)") from None
            continue  # one damaged record does not cost the rest of the corpus
        if not records and not (isinstance(record, dict) and record.get("text") and record.get("author")):
            raise Skip("JSON lines that are not poems (expected records with author and text)")
        if isinstance(record, dict):
            records.append(record)
    return records


def _text(value) -> str:
    return str(value).strip() if value is not None else ""


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0].strip()
    return re.sub(r"[^\w)»\"]+$", "", line) or line


def _year(value) -> int | None:
    match = re.search(r"(?<!\d)(\d{3,4})(?!\d)", str(value)) if value not in (None, "") else None
    return int(match.group(1)) if match and 800 <= int(match.group(1)) <= 2100 else None
