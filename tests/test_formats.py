"""Document formats: HTML, FB2 (plain and zipped), EPUB, PDF, DOCX, and broken files of each.

Every fixture is made here: HTML and FB2 by hand, EPUB with ebooklib, DOCX
with python-docx, PDF as a few hand-written objects with a real text layer.
"""

import io
import zipfile
import zlib
from pathlib import Path

import pytest

from index.readers import Skip, check_supported, parse_documents

POEM = ["Мороз и солнце; день чудесный!", "Ещё ты дремлешь, друг прелестный —",
        "Пора, красавица, проснись:"]


def make_pdf(lines: list[str], title: str = "", author: str = "", compress: bool = False) -> bytes:
    """A one-page PDF whose text is set in Helvetica, with a ToUnicode map for Cyrillic;
    with ``compress``, its streams Flate-compressed."""
    chars = sorted({c for line in lines for c in line if ord(c) > 126})
    code = {c: 128 + i for i, c in enumerate(chars)}

    def encode(text: str) -> str:
        return "".join(f"{code.get(c, ord(c)):02X}" for c in text)

    ops = ["BT", "/F1 12 Tf", "20 150 Td"]
    for n, line in enumerate(lines):
        ops += (["0 -16 Td"] if n else []) + [f"<{encode(line)}> Tj"]
    content = "\n".join(ops + ["ET"] if lines else ["0 0 m 100 100 l S"]).encode()
    pairs = [f"<{code[c]:02X}> <{ord(c):04X}>" for c in chars]
    blocks = "".join(f"{len(pairs[i:i + 100])} beginbfchar\n" + "\n".join(pairs[i:i + 100]) + "\nendbfchar\n"
                     for i in range(0, len(pairs), 100))
    cmap = ("/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n/CMapName /Lira-UCS def\n"
            "/CMapType 2 def\n1 begincodespacerange <00> <FF> endcodespacerange\n" + blocks
            + "endcmap CMapName currentdict /CMap defineresource pop end end").encode()

    def pdf_string(text: str) -> str:
        return "<FEFF" + text.encode("utf-16-be").hex().upper() + ">"

    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        pdf_stream(content, compress),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 7 0 R >>",
        f"<< /Title {pdf_string(title)} /Author {pdf_string(author)} >>".encode(),
        pdf_stream(cmap, compress),
    ]
    return pdf_file(objects, info=6)


def pdf_stream(data: bytes, compress: bool = False) -> bytes:
    """A stream object's body: ``data`` as it is, or Flate-compressed."""
    if compress:
        data = zlib.compress(data)
    flate = b" /Filter /FlateDecode" if compress else b""
    return b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(data), flate, data)


def pdf_file(objects: list[bytes], info: int | None = None) -> bytes:
    """A PDF of ``objects`` (numbered from 1; the first is the catalog) with its cross-reference
    table; ``info`` is the number of the document-information object, if any."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    info_ref = b" /Info %d 0 R" % info if info else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, info_ref, xref)
    return bytes(out)


def make_fb2(encoding: str = "utf-8") -> bytes:
    stanza = "".join(f"<v>{line}</v>" for line in POEM)
    return f"""<?xml version="1.0" encoding="{encoding}"?>
<FictionBook xmlns="http://www.gribuser.ru/xml/fictionbook/2.0" xmlns:l="http://www.w3.org/1999/xlink">
 <description><title-info>
  <genre>poetry</genre>
  <author><first-name>Александр</first-name><middle-name>Сергеевич</middle-name><last-name>Пушкин</last-name></author>
  <book-title>Зимнее утро</book-title>
  <date value="1829-11-03">3 ноября 1829</date>
  <lang>ru</lang>
 </title-info></description>
 <body>
  <title><p>Зимнее утро</p></title>
  <section><poem><stanza>{stanza}</stanza></poem>
   <p>Проза с <emphasis>выделением</emphasis> и сноской<a l:href="#n1">[1]</a>.</p></section>
 </body>
 <body name="notes"><section id="n1"><p>Текст сноски</p></section></body>
 <binary id="cover.jpg" content-type="image/jpeg">AAAA</binary>
</FictionBook>""".encode(encoding)


def make_epub(path: Path) -> Path:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("lira-test")
    book.set_title("Повести Белкина")
    book.set_language("ru")
    book.add_author("Александр Пушкин")
    book.add_metadata("DC", "date", "1831-10-01")
    chapters = []
    for n, (name, text) in enumerate([("Выстрел", "Мы стояли в местечке ***."),
                                      ("Метель", "В конце 1811 года, в эпоху нам достопамятную")], 1):
        chapter = epub.EpubHtml(title=name, file_name=f"ch{n}.xhtml", lang="ru")
        chapter.content = f"<html><body><h1>{name}</h1><p>{text}</p></body></html>"
        book.add_item(chapter)
        chapters.append(chapter)
    book.toc = chapters
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav"] + chapters
    epub.write_epub(str(path), book)
    return path


def make_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = "Отчёт о поездке"
    document.core_properties.author = "Иван Петров"
    document.add_heading("Поездка в Тверь", level=1)
    document.add_paragraph("Выехали утром, к обеду были на месте.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Город", "Дни"
    table.cell(1, 0).text, table.cell(1, 1).text = "Тверь", "3"
    document.add_paragraph("Вернулись в пятницу.")
    document.save(str(path))
    return path


@pytest.mark.parametrize("name", ["a.txt", "a.md", "a.html", "a.HTM", "a.fb2", "a.fb2.zip", "a.epub",
                                  "a.pdf", "a.docx", "a.xml", "a.json", "a.jsonl"])
def test_supported_types(name):
    check_supported(Path(name))


@pytest.mark.parametrize("name", ["a.zip", "a.doc", "a.exe", "README", "a.png"])
def test_unsupported_types(name):
    with pytest.raises(Skip, match="unsupported type"):
        check_supported(Path(name))
    with pytest.raises(Skip, match="unsupported type"):
        parse_documents(Path(name), b"data")


def test_unknown_layout_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="layout"):
        parse_documents(tmp_path / "a.txt", b"text", layout="nonsense")


def test_html_title_author_and_lines(tmp_path):
    page = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Зимнее утро — стихи</title>
    <meta name="Author" content="А. С. Пушкин"><style>p {color: red}</style>
    <script>var x = "не текст";</script></head>
    <body><nav><a href="/">Главная</a></nav><h1>Зимнее утро</h1>
    <p>Мороз и солнце; <b>день</b> чудесный!<br>Ещё ты дремлешь, друг прелестный —</p>
    <ul><li>первый</li><li>второй</li></ul></body></html>"""
    [doc] = parse_documents(tmp_path / "page.html", page.encode())
    assert doc.title == "Зимнее утро — стихи" and doc.author == "А. С. Пушкин" and doc.kind == "text"
    lines = doc.text.splitlines()
    assert "Мороз и солнце; день чудесный!" in lines and "Ещё ты дремлешь, друг прелестный —" in lines
    assert "первый" in lines and "второй" in lines
    assert "color" not in doc.text and "не текст" not in doc.text and "Главная" not in doc.text


@pytest.mark.parametrize("head", ['<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">', ""])
def test_html_in_cp1251_with_and_without_a_declared_charset(tmp_path, head):
    page = f"<html><head>{head}</head><body><h1>Бородино</h1><p>Скажи-ка, дядя, ведь не даром</p></body></html>"
    [doc] = parse_documents(tmp_path / "old.htm", page.encode("cp1251"))
    assert doc.title == "Бородино" and "Скажи-ка, дядя, ведь не даром" in doc.text


def test_html_without_title_uses_the_file_name(tmp_path):
    [doc] = parse_documents(tmp_path / "заметка.html", "<p>Просто текст</p>".encode())
    assert doc.title == "заметка" and doc.text == "Просто текст" and doc.author == ""


@pytest.mark.parametrize("encoding", ["utf-8", "windows-1251"])
def test_fb2_metadata_and_text(tmp_path, encoding):
    [doc] = parse_documents(tmp_path / "book.fb2", make_fb2(encoding))
    assert doc.title == "Зимнее утро" and doc.author == "Александр Сергеевич Пушкин" and doc.year == 1829
    lines = doc.text.splitlines()
    assert lines[0] == "Зимнее утро" and all(line in lines for line in POEM)
    assert "Проза с выделением и сноской[1]." in lines
    assert "Текст сноски" not in doc.text and "AAAA" not in doc.text  # notes body and binaries


def test_zipped_fb2(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("pushkin.fb2", make_fb2())
    [doc] = parse_documents(tmp_path / "pushkin.fb2.zip", buffer.getvalue())
    assert doc.title == "Зимнее утро" and POEM[0] in doc.text


def test_fb2_without_title_info_is_named_after_the_file(tmp_path):
    data = ('<FictionBook xmlns="http://www.gribuser.ru/xml/fictionbook/2.0"><body><section>'
            '<p>Текст без описания</p></section></body></FictionBook>').encode()
    [doc] = parse_documents(tmp_path / "безымянная.fb2", data)
    assert doc.title == "безымянная" and doc.author == "" and doc.year is None
    assert doc.text == "Текст без описания"


def test_epub_metadata_and_chapters_in_order(tmp_path):
    path = make_epub(tmp_path / "belkin.epub")
    [doc] = parse_documents(path, path.read_bytes())
    assert doc.title == "Повести Белкина" and doc.author == "Александр Пушкин" and doc.year == 1831
    assert doc.text.index("Выстрел") < doc.text.index("Метель")
    assert "Мы стояли в местечке ***." in doc.text.splitlines()


def test_pdf_text_layer_and_metadata(tmp_path):
    data = make_pdf(POEM, title="Зимнее утро", author="Александр Пушкин")
    [doc] = parse_documents(tmp_path / "poem.pdf", data)
    assert doc.title == "Зимнее утро" and doc.author == "Александр Пушкин"
    assert doc.text.splitlines() == POEM


def test_pdf_without_metadata_is_named_after_the_file(tmp_path):
    [doc] = parse_documents(tmp_path / "scan2text.pdf", make_pdf(["Just a line"]))
    assert doc.title == "scan2text" and doc.author == "" and doc.text == "Just a line"


def test_pdf_without_a_text_layer_is_skipped(tmp_path):
    with pytest.raises(Skip, match="PDF without a text layer"):
        parse_documents(tmp_path / "scan.pdf", make_pdf([]))


def test_docx_metadata_paragraphs_and_tables(tmp_path):
    path = make_docx(tmp_path / "report.docx")
    [doc] = parse_documents(path, path.read_bytes())
    assert doc.title == "Отчёт о поездке" and doc.author == "Иван Петров"
    lines = doc.text.splitlines()
    assert lines[0] == "Поездка в Тверь"
    assert lines.index("Город | Дни") < lines.index("Тверь | 3") < lines.index("Вернулись в пятницу.")


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


@pytest.mark.parametrize("name, reason", [
    ("book.epub", "broken EPUB"), ("report.docx", "broken DOCX"), ("poem.pdf", "broken PDF"),
    ("book.fb2", "broken FB2"), ("book.fb2.zip", "broken ZIP"),
])
def test_truncated_files_are_skipped_with_a_reason(tmp_path, name, reason):
    if name.endswith(".epub"):
        data = make_epub(tmp_path / name).read_bytes()
    elif name.endswith(".docx"):
        data = make_docx(tmp_path / name).read_bytes()
    elif name.endswith(".pdf"):
        data = make_pdf(POEM)
    elif name.endswith(".zip"):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("book.fb2", make_fb2() * 20)
        data = buffer.getvalue()
    else:
        data = make_fb2()
    with pytest.raises(Skip, match=reason):
        parse_documents(tmp_path / name, _truncated(data))


@pytest.mark.parametrize("name", ["junk.epub", "junk.docx", "junk.pdf", "junk.fb2", "junk.fb2.zip", "junk.html"])
def test_garbage_never_escapes_as_an_exception(tmp_path, name):
    for data in (b"\x00\x01\x02 not really a file", b"PK\x03\x04" + bytes(range(256)) * 4, b"%PDF-1.7\n"):
        try:
            parse_documents(tmp_path / name, data)
        except Skip as why:
            assert str(why) and "\n" not in str(why)


def test_zip_without_an_fb2_inside(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "no book here")
    with pytest.raises(Skip, match="no .fb2"):
        parse_documents(tmp_path / "book.fb2.zip", buffer.getvalue())


def test_fb2_that_is_another_xml(tmp_path):
    with pytest.raises(Skip, match="not a FictionBook"):
        parse_documents(tmp_path / "book.fb2", b"<?xml version='1.0'?><html><p>hi</p></html>")
