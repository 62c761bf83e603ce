"""A streamed XLSX workbook: one sheet of rows, written into a zip as the rows come, so the first bytes
leave with the first rows and memory stays flat however many rows there are.

Why not xlsxwriter or openpyxl: both write the whole sheet (xlsxwriter's ``constant_memory`` to a temporary
file) and build the zip only when the workbook is closed, so a download of 500,000 rows would send its first
byte only after every row was written (about as long as the whole export). A zip can be written forwards
only (each member's sizes in a data descriptor after it), and a sheet of inline strings needs no shared
string table, so this writes the sheet row by row, then the few other parts of a workbook.
"""

from __future__ import annotations

import itertools
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
MAX_ROWS = 1_048_576  # rows a sheet holds (Excel's limit): past it, the rows go on in another sheet
NS = "http://schemas.openxmlformats.org/"
XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml"
STYLES = (
    f'{XML}<styleSheet xmlns="{NS}spreadsheetml/2006/main">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
    '<borders count="1"><border/></borders>'
    '<cellStyleXfs count="1"><xf/></cellStyleXfs>'
    '<cellXfs count="2"><xf/><xf fontId="1" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def _sheet_path(n: int) -> str:
    return f"xl/worksheets/sheet{n}.xml"


def _parts(sheets: int, name: str) -> dict[str, str]:
    """The workbook's parts besides its sheets (written last: only then is the number of sheets known; a
    zip's members may come in any order)."""
    names = [name[:31]] + [f"{name[:27]} {n}" for n in range(2, sheets + 1)]
    rel = f"{NS}officeDocument/2006/relationships"
    return {
        "[Content_Types].xml": (
            f'{XML}<Types xmlns="{NS}package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{MIME}.sheet.main+xml"/>'
            + "".join(
                f'<Override PartName="/{_sheet_path(n)}" ContentType="{MIME}.worksheet+xml"/>'
                for n in range(1, sheets + 1)
            )
            + f'<Override PartName="/xl/styles.xml" ContentType="{MIME}.styles+xml"/></Types>'
        ),
        "_rels/.rels": (
            f'{XML}<Relationships xmlns="{NS}package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'{XML}<workbook xmlns="{NS}spreadsheetml/2006/main" xmlns:r="{rel}"><sheets>'
            + "".join(
                f'<sheet name="{escape(title)}" sheetId="{n}" r:id="rId{n}"/>'
                for n, title in enumerate(names, 1)
            )
            + "</sheets></workbook>"
        ),
        "xl/_rels/workbook.xml.rels": (
            f'{XML}<Relationships xmlns="{NS}package/2006/relationships">'
            + "".join(
                f'<Relationship Id="rId{n}" Type="{rel}/worksheet" Target="worksheets/sheet{n}.xml"/>'
                for n in range(1, sheets + 1)
            )
            + f'<Relationship Id="rId{sheets + 1}" Type="{rel}/styles" Target="styles.xml"/></Relationships>'
        ),
        "xl/styles.xml": STYLES,
    }


SHEET_START = (
    f"{XML}"
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

    def close(self) -> None:
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


def xlsx_chunks(
    rows: Iterable[list[Any]], sheet: str = "Submissions", every: int = 200, max_rows: int = MAX_ROWS
) -> Iterator[bytes]:
    """An XLSX workbook of ``rows`` (the first one the header, in bold and kept in view), as bytes in chunks
    of about ``FLUSH_BYTES`` (the first as soon as the header is written). Numbers stay numbers; everything
    else is text (never a formula). Past ``max_rows`` rows the rows go on in another sheet, under the
    header again."""
    pipe = _Pipe()
    rows = iter(rows)
    header = next(rows, [])
    columns = [_column(i) for i in range(len(header))]
    sheets = 0
    with zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as book:
        more = True
        while more:
            sheets += 1
            with book.open(_sheet_path(sheets), "w") as out:  # (no zip64: a sheet of Excel's rows is < 2 GB)
                out.write((SHEET_START + _row(1, header, columns, ' s="1"')).encode())
                yield pipe.take()  # (the header leaves at once)
                lines: list[str] = []
                more = False
                for n, cells in enumerate(rows, 2):
                    if len(cells) > len(columns):
                        columns = [_column(i) for i in range(len(cells))]
                    lines.append(_row(n, cells, columns))
                    if len(lines) >= every:
                        out.write("".join(lines).encode())
                        lines.clear()
                        if pipe.size >= FLUSH_BYTES:
                            yield pipe.take()
                    if n >= max_rows:
                        following = next(rows, None)  # (a sheet only if a row is left for it)
                        if following is not None:
                            rows, more = itertools.chain([following], rows), True
                        break
                out.write(("".join(lines) + SHEET_END).encode())
        for name, text in _parts(sheets, sheet).items():
            book.writestr(name, text)
    yield pipe.take()
