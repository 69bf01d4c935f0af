"""Writes the test fixtures in this folder with the standard library only: a two-page PDF
(Helvetica, WinAnsiEncoding, one text object per line) and a DOCX (a paragraph, a line
break, a tab and a table). Run from this folder: python3 make_fixtures.py"""

import zipfile


def pdf(pages, raw_streams=()):
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        None,  # the page tree, once the page ids are known
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    kids = []
    streams = []
    for lines in pages:
        stream = b""
        for i, line in enumerate(lines):
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            stream += b"BT /F1 12 Tf 72 %d Td (%s) Tj ET\n" % (720 - 18 * i, escaped.encode("cp1252"))
        streams.append(stream)
    streams.extend(raw_streams)
    for stream in streams:
        objects.append(b"<< /Length %d >>\nstream\n%sendstream" % (len(stream), stream))
        content_id = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % content_id
        )
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return out


DOCX_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>
</Types>"""

DOCX_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>
</Relationships>"""

DOCX_DOCUMENT = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">
<w:body>
<w:p><w:pPr><w:pStyle w:val="Title"/></w:pPr><w:r><w:t>Basalt field notes</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">Columnar jointing forms </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>as lava cools</w:t></w:r><w:r><w:t>.</w:t></w:r></w:p>
<w:p><w:r><w:t>Site:</w:t></w:r><w:r><w:tab/><w:t>Giant's Causeway</w:t></w:r><w:r><w:br/><w:t>Second line &amp; more</w:t></w:r></w:p>
<w:tbl>
<w:tr><w:tc><w:p><w:r><w:t>Mineral</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Share</w:t></w:r></w:p></w:tc></w:tr>
<w:tr><w:tc><w:p><w:r><w:t>Plagioclase</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>45%</w:t></w:r></w:p></w:tc></w:tr>
</w:tbl>
<w:sectPr/>
</w:body>
</w:document>"""


def docx(path):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", DOCX_CONTENT_TYPES)
        z.writestr("_rels/.rels", DOCX_RELS)
        z.writestr("word/document.xml", DOCX_DOCUMENT)


if __name__ == "__main__":
    with open("report.pdf", "wb") as f:
        f.write(pdf([["Basalt quarterly report", "Revenue grew 12% (year over year)."],
                     ["Page two: caf\u00e9 prices held steady."]]))
    with open("scanned.pdf", "wb") as f:
        f.write(pdf([[]]))
    docx("notes.docx")
    # One text object laid out the way word processors do: Td/TD/T*/Tm moves and TJ kerning.
    layout = (b"BT /F1 12 Tf 14 TL 72 720 Td (First line) Tj 0 -14 Td (Second) Tj 60 0 Td (line) Tj "
              b"T* (Third via T*) Tj 0 -14 TD [(Kern) -20 (ed) -250 (words)] TJ "
              b"1 0 0 1 72 600 Tm (Moved by Tm) Tj (, same line) Tj ET\n")
    with open("layout.pdf", "wb") as f:
        f.write(pdf([], [layout]))
