"""Malformed inputs for the document readers: small valid seeds and seeded mutators.

Every format Lira reads has a valid seed document built here in code (no fixtures on disk).
A case is one seed put through one to three mutations chosen by ``random.Random``; the random
generator of case ``i`` of format ``f`` under seed ``s`` is seeded with ``"s:f:i"``, so one case
is reproduced alone with ``make_case(f, s, i)``, whatever ran before it. Inputs stay under
``MAX_INPUT`` bytes. ZIP-based formats also get structure-aware mutations that keep the archive
readable (valid CRCs) so that the mutation reaches the reader behind zipfile.
"""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

from tests.test_formats import make_pdf

MAX_INPUT = 200_000

POEM = ["Мороз и солнце; день чудесный!", "Ещё ты дремлешь, друг прелестный —",
        "Пора, красавица, проснись:", "Открой сомкнуты негой взоры"]


@dataclass(frozen=True)
class Format:
    """One reader's input: the file name it is given, its layout, and whether it is a ZIP."""

    name: str
    filename: str
    layout: str = "auto"
    is_zip: bool = False


FORMATS = {f.name: f for f in [
    Format("txt", "notes.txt"), Format("md", "notes.md"),
    Format("ruslit", "poems/Пушкин/Зимнее утро.txt", layout="ruslit"),
    Format("html", "page.html"), Format("fb2", "book.fb2"),
    Format("fb2.zip", "book.fb2.zip", is_zip=True), Format("epub", "book.epub", is_zip=True),
    Format("docx", "report.docx", is_zip=True), Format("pdf", "paper.pdf"),
    Format("xml", "corpus.xml"), Format("json", "corpus.json"), Format("jsonl", "corpus.jsonl"),
]}


@dataclass(frozen=True)
class Case:
    """One generated input and how it was made (enough to make it again)."""

    format: str
    seed: int
    index: int
    mutation: str
    data: bytes

    def reproduce(self) -> str:
        return f"make_case({self.format!r}, {self.seed}, {self.index})  # {self.mutation}"


# -- seeds -------------------------------------------------------------------------------

def _text() -> bytes:
    return ("Зимнее утро\n\n" + "\n".join(POEM) + "\n\nМосква — столица России.\n").encode()


def _markdown() -> bytes:
    return ("# Зимнее утро\n\n" + "\n".join(f"- {line}" for line in POEM)
            + "\n\n```\nкод\n```\n").encode()


def _ruslit() -> bytes:
    return ("Александр Пушкин\n\nЗИМНЕЕ УТРО\n\n" + "\n".join(POEM) + "\n\n1829\n").encode()


def _html() -> bytes:
    items = "".join(f"<li>{line}</li>" for line in POEM)
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>Зимнее утро</title>'
            f'<meta name="author" content="А. С. Пушкин"><style>p{{color:red}}</style></head>'
            f'<body><h1>Стихи</h1><ul>{items}</ul><p>Проза &amp; <b>выделение</b>&nbsp;ещё.</p>'
            f'<table><tr><td>1829</td><th>год</th></tr></table><script>var x = "<p>";</script>'
            f'<pre>  два   пробела</pre></body></html>').encode()


def _fb2() -> bytes:
    stanza = "".join(f"<v>{line}</v>" for line in POEM)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<FictionBook xmlns="http://www.gribuser.ru/xml/fictionbook/2.0" xmlns:l="http://www.w3.org/1999/xlink">
<description><title-info><genre>poetry</genre>
<author><first-name>Александр</first-name><last-name>Пушкин</last-name></author>
<book-title>Зимнее утро</book-title><date value="1829-11-03">1829</date></title-info></description>
<body><title><p>Зимнее утро</p></title><section><poem><stanza>{stanza}</stanza></poem>
<p>Проза со <emphasis>сноской</emphasis><a l:href="#n1">[1]</a>.</p><empty-line/></section></body>
<body name="notes"><section id="n1"><p>Сноска</p></section></body>
<binary id="i.png" content-type="image/png">iVBORw0KGgo=</binary>
</FictionBook>""".encode()


def _zip(members: list[tuple[str, bytes, int]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data, method in members:
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return out.getvalue()


def _fb2_zip() -> bytes:
    return _zip([("book.fb2", _fb2(), zipfile.ZIP_DEFLATED)])


def _epub() -> bytes:
    container = (b'<?xml version="1.0"?><container version="1.0" '
                 b'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
                 b'<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
                 b'</rootfiles></container>')
    opf = ('<?xml version="1.0" encoding="utf-8"?><package xmlns="http://www.idpf.org/2007/opf" '
           'version="3.0" unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
           '<dc:identifier id="id">lira-fuzz</dc:identifier><dc:title>Зимнее утро</dc:title>'
           '<dc:creator>Александр Пушкин</dc:creator><dc:date>1829</dc:date><dc:language>ru</dc:language>'
           '</metadata><manifest><item id="ch1" href="ch1.xhtml" media-type="application/xhtml+xml"/>'
           '<item id="css" href="style.css" media-type="text/css"/></manifest>'
           '<spine><itemref idref="ch1"/></spine></package>').encode()
    lines = "".join(f"<p>{line}</p>" for line in POEM)
    chapter = ('<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
               f'<head><title>Глава</title></head><body><h1>Зимнее утро</h1>{lines}</body></html>').encode()
    return _zip([("mimetype", b"application/epub+zip", zipfile.ZIP_STORED),
                 ("META-INF/container.xml", container, zipfile.ZIP_DEFLATED),
                 ("OEBPS/content.opf", opf, zipfile.ZIP_DEFLATED),
                 ("OEBPS/ch1.xhtml", chapter, zipfile.ZIP_DEFLATED),
                 ("OEBPS/style.css", b"p { margin: 0 }", zipfile.ZIP_DEFLATED)])


def _docx() -> bytes:
    types = (b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
             b'package/2006/content-types"><Default Extension="rels" ContentType="application/'
             b'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
             b'ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType='
             b'"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
             b'<Override PartName="/docProps/core.xml" ContentType="application/'
             b'vnd.openxmlformats-package.core-properties+xml"/></Types>')
    rels = (b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
            b'.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
            b'openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/'
            b'document.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/'
            b'2006/relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>')
    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    paragraphs = "".join(f"<w:p><w:r><w:t>{line}</w:t></w:r></w:p>" for line in POEM)
    table = ("<w:tbl><w:tr><w:tc><w:p><w:r><w:t>год</w:t></w:r></w:p></w:tc>"
             "<w:tc><w:p><w:r><w:t>1829</w:t></w:r></w:p></w:tc></w:tr></w:tbl>")
    document = (f'<?xml version="1.0" encoding="UTF-8"?><w:document {w}><w:body>{paragraphs}{table}'
                '</w:body></w:document>').encode()
    core = ('<?xml version="1.0" encoding="UTF-8"?><cp:coreProperties xmlns:cp="http://schemas.'
            'openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/'
            'elements/1.1/"><dc:title>Зимнее утро</dc:title><dc:creator>Пушкин</dc:creator>'
            '</cp:coreProperties>').encode()
    return _zip([("[Content_Types].xml", types, zipfile.ZIP_DEFLATED),
                 ("_rels/.rels", rels, zipfile.ZIP_DEFLATED),
                 ("word/document.xml", document, zipfile.ZIP_DEFLATED),
                 ("docProps/core.xml", core, zipfile.ZIP_DEFLATED)])


def _pdf() -> bytes:
    """One page of Helvetica text (Cyrillic through a ToUnicode map), its streams Flate-compressed."""
    return make_pdf(POEM[:2] + ["Plain Latin line."], title="Зимнее утро", author="Pushkin",
                    compress=True)


def _poem_xml() -> bytes:
    items = "".join(f"<item><name>Стих {n}</name><author>Александр Пушкин</author><text>{line}\n{line}"
                    f"</text><date_from>1829</date_from><date_to></date_to><themes><item>Зима</item>"
                    f"</themes></item>" for n, line in enumerate(POEM))
    return f'<?xml version="1.0" encoding="UTF-8"?><items>{items}<item><text></text></item></items>'.encode()


def _poem_json() -> bytes:
    import json

    entries = [{"model": "corpus.Poem", "pk": n, "fields": {
        "name": "" if n == 1 else f"Стих {n}", "author": "Александр Пушкин", "text": f"{line}\n{line}",
        "date_from": 1829, "date_to": None, "themes": [1]}} for n, line in enumerate(POEM)]
    entries.append({"model": "corpus.Theme", "pk": 1, "fields": {"name": "Зима"}})
    return json.dumps(entries, ensure_ascii=False).encode()


def _poem_jsonl() -> bytes:
    import json

    return "\n".join(json.dumps({"author": "Александр Пушкин", "title": f"Стих {n}", "text": line,
                                 "year": "1829"}, ensure_ascii=False) for n, line in enumerate(POEM)).encode()


SEEDS: dict[str, Callable[[], bytes]] = {
    "txt": _text, "md": _markdown, "ruslit": _ruslit, "html": _html, "fb2": _fb2, "fb2.zip": _fb2_zip,
    "epub": _epub, "docx": _docx, "pdf": _pdf, "xml": _poem_xml, "json": _poem_json, "jsonl": _poem_jsonl,
}


def seed(format_name: str) -> bytes:
    """The valid seed document of a format."""
    return SEEDS[format_name]()


# -- byte-level mutations ---------------------------------------------------------------------

# Tokens that mean something to one of the parsers, inserted whole.
TOKENS = [b"\x00", b"<", b">", b"&", b"&#0;", b"&#x1b;", b"&bogus;", b"]]>", b"<![CDATA[", b"<!--",
          b"<!DOCTYPE x [<!ENTITY a \"aaaa\">]>", b"&a;", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff",
          b'"', b"{", b"}", b"[", b"]", b"\\u0000", b"\\ud800", b"\n", b"\r", b"\x1b[31m",
          b"<div>" * 50, b"</p>", b"<?xml version='1.0' encoding='koi8-r'?>", b'<meta charset="x-bogus">',
          b'<meta charset="utf-16">', b"obj", b"endobj", b"stream\n", b"endstream", b"R", b" 0 R",
          b"/Length 999999", b"/FlateDecode", b"trailer", b"xref", b"%%EOF", b"PK\x03\x04",
          b"PK\x01\x02", b"PK\x05\x06", b"9" * 40, b"-1", b"\xd0", b"\xc0\x80", b"\xed\xa0\x80",
          b"corpus.Poem", b"<items>", b"<item>", b"\"text\": ", "\u2028\u0085".encode()]


def truncate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    cut = rng.randrange(len(data) + 1)
    return data[:cut], f"truncate@{cut}"


def flip_bits(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    if not data:
        return data, "flip none"
    out = bytearray(data)
    count = rng.choice([1, 2, 4, 16, 64])
    for _ in range(count):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out), f"flip {count} bits"


def set_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    if not data:
        return data, "set none"
    out = bytearray(data)
    count = rng.choice([1, 3, 10])
    for _ in range(count):
        out[rng.randrange(len(out))] = rng.choice([0, 0xFF, 0x7F, 0x80, rng.randrange(256)])
    return bytes(out), f"set {count} bytes"


def insert_run(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    at = rng.randrange(len(data) + 1)
    kind = rng.choice(["random", "repeat", "copy", "token"])
    if kind == "random":
        run = rng.randbytes(rng.randrange(1, 256))
    elif kind == "repeat":
        run = bytes([rng.randrange(256)]) * rng.randrange(1, 4096)
    elif kind == "copy" and data:
        start = rng.randrange(len(data))
        run = data[start:start + rng.randrange(1, 512)] * rng.randrange(1, 20)
    else:
        run = rng.choice(TOKENS) * rng.choice([1, 1, 2, 100])
    return data[:at] + run + data[at:], f"insert {kind} {len(run)}B@{at}"


def delete_run(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    at = rng.randrange(len(data) + 1)
    size = rng.randrange(1, 256)
    return data[:at] + data[at + size:], f"delete {size}B@{at}"


def splice(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    other_name = rng.choice(sorted(SEEDS))
    other = seed(other_name)
    a, b = rng.randrange(len(data) + 1), rng.randrange(len(other) + 1)
    return data[:a] + other[b:], f"splice head@{a} + {other_name} tail@{b}"


def random_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    size = rng.choice([0, 1, 16, 1024, 65536])
    return rng.randbytes(size), f"random {size}B"


BYTE_MUTATIONS = [truncate, flip_bits, set_bytes, insert_run, delete_run, splice]


def mutate_bytes(data: bytes, rng: random.Random, steps: int) -> tuple[bytes, str]:
    """``steps`` byte-level mutations in a row (random bytes only ever alone)."""
    if rng.random() < 0.05:
        return random_bytes(data, rng)
    done = []
    for _ in range(steps):
        data, what = rng.choice(BYTE_MUTATIONS)(data, rng)
        done.append(what)
    return data[:MAX_INPUT], " + ".join(done)


# -- ZIP-aware mutations ----------------------------------------------------------------------

def _members(data: bytes) -> list[tuple[str, bytes, int]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(i.filename, archive.read(i), i.compress_type) for i in archive.infolist()]


def _rezip(members: list[tuple[str, bytes, int]]) -> bytes:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are on purpose
        return _zip(members)


def mutate_zip(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """A structure-aware mutation of a valid ZIP: the result is a readable archive (CRCs valid),
    except for a patched compression method, which zipfile itself must refuse."""
    members = _members(data)
    n = rng.randrange(len(members))
    name, body, method = members[n]
    kind = rng.choice(["member random", "member wrong type", "member removed", "member duplicated",
                       "member mutated", "member mutated", "member mutated", "method changed",
                       "method patched", "member renamed", "member emptied", "nested zip"])
    if kind == "member random":
        members[n] = (name, rng.randbytes(rng.choice([0, 10, 1000, 20000])), method)
    elif kind == "member wrong type":
        other = rng.choice(sorted(SEEDS))
        members[n] = (name, seed(other), method)
        kind += f" ({other})"
    elif kind == "member removed":
        del members[n]
    elif kind == "member duplicated":
        changed, what = mutate_bytes(body, rng, 1)
        members.insert(rng.randrange(len(members) + 1), (name, changed, method))
        kind += f" ({what})"
    elif kind == "member mutated":
        changed, what = mutate_bytes(body, rng, rng.randint(1, 3))
        members[n] = (name, changed, method)
        kind += f" ({what})"
    elif kind == "method changed":
        new = rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
        members[n] = (name, body, new)
        kind += f" to {new}"
    elif kind == "member renamed":
        new_name = rng.choice(["", "/", "../" + name, name.upper(), name + ".bak", "a/" * 50 + name,
                               name.replace(".", "_")])
        members[n] = (new_name, body, method)
        kind += f" to {new_name[:40]!r}"
    elif kind == "member emptied":
        members[n] = (name, b"", method)
    elif kind == "nested zip":
        members[n] = (name, _zip([(name, body, zipfile.ZIP_DEFLATED)]), method)
    out = _rezip(members) if kind != "method patched" else _patch_method(data, rng)
    return out[:MAX_INPUT], f"{kind} [{name}]" if kind != "method patched" else "method patched"


def _patch_method(data: bytes, rng: random.Random) -> bytes:
    """The archive with one member's method field (local and central headers) set to something odd."""
    out = bytearray(data)
    method = rng.choice([1, 6, 9, 12, 14, 93, 99, 0xFFFF]).to_bytes(2, "little")
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        spots = [i for i in range(len(out)) if out.startswith(signature, i)]
        if spots:
            at = rng.choice(spots) + offset
            out[at:at + 2] = method
    return bytes(out)


# -- cases ------------------------------------------------------------------------------------

def make_case(format_name: str, seed_value: int, index: int) -> Case:
    """Case ``index`` of a format under a seed: the same bytes on every run and machine."""
    rng = random.Random(f"{seed_value}:{format_name}:{index}")
    data = seed(format_name)
    if index == 0:
        return Case(format_name, seed_value, index, "seed (unmutated)", data)
    if FORMATS[format_name].is_zip and rng.random() < 0.6:
        data, what = mutate_zip(data, rng)
        if rng.random() < 0.2:  # now and then, the raw archive bytes too
            data, more = mutate_bytes(data, rng, 1)
            what += " + " + more
    else:
        data, what = mutate_bytes(data, rng, rng.choice([1, 1, 2, 3]))
    return Case(format_name, seed_value, index, what, data[:MAX_INPUT])
