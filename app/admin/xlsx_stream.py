"""A streamed XLSX workbook: one sheet of rows, written into a zip as the rows come, so the first bytes
leave with the first rows and memory stays flat however many rows there are.

Why not xlsxwriter or openpyxl: both write the whole sheet (xlsxwriter's ``constant_memory`` to a temporary
file) and build the zip only when the workbook is closed, so a download of 500,000 rows would send its first
byte only after every row was written (about as long as the whole export). A zip can be written forwards
only (each member's sizes in a data descriptor after it), and a sheet of inline strings needs no shared
string table, so this writes the few fixed parts of a workbook, then the sheet row by row.
"""

from __future__ import annotations

import math
import re
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any
from xml.sax.saxutils import escape

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FLUSH_BYTES = 64 * 1024  # bytes of zip held before they are handed on
COMPRESS_LEVEL = 1  # deflate's fastest: a sheet shrinks ~5x at level 1, barely more at 6, at twice the CPU
MAX_CELL = 32_767  # characters a spreadsheet cell holds (Excel refuses a file with a longer one)
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")  # (XML 1.0 cannot hold them)
SHEET = "xl/worksheets/sheet1.xml"
NS = "http://schemas.openxmlformats.org/"
FIXED = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<Types xmlns="{NS}package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        f'<Override PartName="/{SHEET}" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<Relationships xmlns="{NS}package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{NS}officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<workbook xmlns="{NS}spreadsheetml/2006/main" xmlns:r="{NS}officeDocument/2006/relationships">'
        '<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<Relationships xmlns="{NS}package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{NS}officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{NS}officeDocument/2006/relationships/styles" Target="styles.xml"/>'
        "</Relationships>"
    ),
    "xl/styles.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<styleSheet xmlns="{NS}spreadsheetml/2006/main">'
        '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
        '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
        '<borders count="1"><border/></borders>'
        '<cellStyleXfs count="1"><xf/></cellStyleXfs>'
        '<cellXfs count="2"><xf/><xf fontId="1" applyFont="1"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    ),
}
SHEET_START = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<worksheet xmlns="{NS}spreadsheetml/2006/main"><sheetViews><sheetView workbookViewId="0">'
    '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>'
    "<sheetData>"
)
SHEET_END = "</sheetData></worksheet>"


class _Pipe:
    """What the zip writes to: bytes kept until taken (a stream forwards only, so no seek)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        self.size = 0
        return data


def _column(n: int) -> str:
    """A spreadsheet column's letters: 0 → A, 25 → Z, 26 → AA."""
    letters = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _text(value: str) -> str:
    """An inline string's XML (cut to what a cell holds; characters XML cannot hold replaced)."""
    if len(value) > MAX_CELL:
        value = value[:MAX_CELL]
    if not value.isprintable():  # (line breaks, tabs, control characters: rare)
        value = NOT_XML.sub("\ufffd", value)
        space = True
    else:
        space = value[:1] == " " or value[-1:] == " "
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<t xml:space="preserve">{value}</t>' if space else f"<t>{value}</t>"


def _row(n: int, cells: list[Any], columns: list[str], style: str = "") -> str:
    parts = [f'<row r="{n}">']
    add = parts.append
    for letter, value in zip(columns, cells, strict=False):
        kind = type(value)
        if kind is str:
            if value:
                add(f'<c r="{letter}{n}"{style} t="inlineStr"><is>{_text(value)}</is></c>')
        elif value is None:
            continue
        elif (kind is int or kind is float) and math.isfinite(value):
            add(f'<c r="{letter}{n}"{style}><v>{value!r}</v></c>')
        else:
            add(f'<c r="{letter}{n}"{style} t="inlineStr"><is>{_text(str(value))}</is></c>')
    add("</row>")
    return "".join(parts)


def xlsx_chunks(rows: Iterable[list[Any]], sheet: str = "Submissions", every: int = 200) -> Iterator[bytes]:
    """An XLSX workbook of ``rows`` (the first one the header, in bold and kept in view), as bytes in chunks
    of about ``FLUSH_BYTES`` (the first once the fixed parts and the first ``every`` rows are written).
    Numbers stay numbers; everything else is text (never a formula)."""
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as book:
        for name, text in FIXED.items():
            book.writestr(name, text.replace("{name}", escape(sheet[:31]), 1))
        with book.open(SHEET, "w", force_zip64=True) as out:  # (zip64: a sheet may pass 4 GB)
            out.write(SHEET_START.encode())
            columns: list[str] = []
            lines: list[str] = []
            for n, cells in enumerate(rows, 1):
                if len(cells) > len(columns):
                    columns = [_column(i) for i in range(len(cells))]
                lines.append(_row(n, cells, columns, ' s="1"' if n == 1 else ""))
                if n == 1 or len(lines) >= every:  # (the header leaves at once)
                    out.write("".join(lines).encode())
                    lines.clear()
                    if pipe.size >= FLUSH_BYTES or n == 1:
                        yield pipe.take()
            out.write(("".join(lines) + SHEET_END).encode())
    yield pipe.take()
