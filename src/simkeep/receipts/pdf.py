"""Receipts on paper: an 80 mm roll PDF, and the QR code of the verification link.

Design overview
---------------
* One layout, the 80 mm roll that outlet receipt printers take; the app's download is the
  same file. The page is exactly as tall as what is on it: the receipt is drawn once on a
  throw-away copy of the document to measure it (fpdf2's copies share the parsed font, so
  this costs little), then for real on a page of that height.
* Text is set in WenQuanYi Zen Hei (Debian ``fonts-wqy-zenhei``), a TrueType collection
  with Latin and CJK glyphs that fpdf2 subsets and embeds with a ToUnicode map: Chinese
  shows on any viewer or printer and can be copied out. The font is read from its Debian
  path; if it is missing, ``FontMissing`` names the package to install.
* Labels come from the caller's catalog (``msgctxt "receipt"``, in ``receipts.po``); this
  module never loads catalogs; the provider's name comes from it too, the plan's name is
  the one of the receipt's language.
  Amounts are formatted for the language by ``Money.format``; times are Hong Kong time.
* The QR code (segno, error correction at least M) is embedded as SVG, so it is drawn as
  vectors and stays sharp at any printer resolution (the HTML receipt page draws the same
  link with ``web.formats.qr_svg``).
* Other papers of the roll (a voucher sale's receipt, a shift's Z-report:
  ``counter_pdf``) build a ``Sheet`` of ``Row`` sections and print it with
  ``render_sheet``; a top-up made at a counter adds ``counter_rows``.
"""

from __future__ import annotations

import copy
import io
import logging
from dataclasses import dataclass
from datetime import datetime
from gettext import NullTranslations
from pathlib import Path

import segno
from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from simkeep.clock import in_hong_kong
from simkeep.payment_methods import provider_name
from simkeep.receipts.model import CounterSale, ReceiptView

CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
FONT_PACKAGE = "fonts-wqy-zenhei"

PAGE_WIDTH = 80.0  # mm, the roll
MARGIN = 5.0
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
LABEL_WIDTH = 28.0
QR_WIDTH = 34.0  # with its quiet zone
_MEASURING_HEIGHT = 1000.0  # tall enough for any receipt; only the measuring copy uses it
_FAMILY = "receipt"
_BODY = 9.5  # points
_LINE = 1.35  # line height as a multiple of the font size
_PT = 25.4 / 72  # millimetres per point
_GREY = 90

# The Debian font carries bitmap strikes (a ``BDF `` table) that fontTools cannot subset;
# it drops them, as it should, and would otherwise log a warning for every receipt.
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)


class FontMissing(RuntimeError):
    """The CJK font that receipts embed is not installed."""


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    value: str
    size: float = _BODY


@dataclass(frozen=True, slots=True)
class Sheet:
    """What a roll prints: a title, sections of rows, and — for a receipt — the QR code of
    its verification link with a caption."""

    title: str
    sections: list[list[Row]]
    caption: str = ""
    verify_url: str = ""  # empty: no QR code (a shift's Z-report)
    qr_svg: bytes = b""  # a standalone SVG document, for fpdf2 to draw


def render_pdf(
    receipt: ReceiptView,
    *,
    language: str,
    verify_url: str,
    translations: NullTranslations,
    font: Path = CJK_FONT,
) -> bytes:
    """The receipt as a one-page PDF, 80 mm wide, labelled in ``language``."""
    sheet = _sheet(receipt, language=language, verify_url=verify_url, translations=translations)
    name = f"{sheet.title} {receipt.receipt_no}"
    return render_sheet(sheet, language=language, name=name, created=receipt.credited_at, font=font)


def render_sheet(
    sheet: Sheet, *, language: str, name: str, created: datetime, font: Path = CJK_FONT
) -> bytes:
    """A sheet as a one-page PDF on the 80 mm roll; ``created`` is its date, so the same
    paper gives the same file."""
    pdf = _document(font)
    pdf.set_lang(language.replace("_", "-"))
    pdf.set_title(name)
    pdf.set_creation_date(created)
    measuring = copy.deepcopy(pdf)
    measuring.add_page(format=(PAGE_WIDTH, _MEASURING_HEIGHT))
    _draw(measuring, sheet)
    pdf.add_page(format=(PAGE_WIDTH, measuring.get_y() + MARGIN))
    _draw(pdf, sheet)
    return bytes(pdf.output())


def qr_sheet(
    title: str, sections: list[list[Row]], *, verify_url: str, translations: NullTranslations
) -> Sheet:
    """A receipt's sheet: the sections, then the QR code of its verification link."""
    return Sheet(
        title=title,
        sections=sections,
        caption=translations.pgettext("receipt", "Scan to verify this receipt"),
        verify_url=verify_url,
        qr_svg=_svg_document(_qr(verify_url)),
    )


def counter_rows(
    counter: CounterSale, *, language: str, translations: NullTranslations
) -> list[Row]:
    """Where and how a sale at a counter was paid."""
    pgettext = translations.pgettext
    rows = [
        Row(pgettext("receipt", "Outlet"), counter.outlet.pick(language)),
        Row(pgettext("receipt", "Clerk"), counter.clerk_name),
        Row(pgettext("receipt", "Tender"), payment_name(counter.payment, translations)),
    ]
    if counter.terminal_ref:
        rows.append(Row(pgettext("receipt", "Card terminal ref."), counter.terminal_ref))
    return rows


def payment_name(payment: str, translations: NullTranslations) -> str:
    """Cash or card, in the catalog's language."""
    if payment == "card":
        return translations.pgettext("receipt", "Card")
    return translations.pgettext("receipt", "Cash")


def _qr(url: str) -> segno.QRCode:
    if not url:
        raise ValueError("a receipt needs its verification link")
    return segno.make_qr(url, error="m")


def _sheet(
    receipt: ReceiptView, *, language: str, verify_url: str, translations: NullTranslations
) -> Sheet:
    pgettext = translations.pgettext
    paid = [
        Row(pgettext("receipt", "Amount credited"), receipt.credit.format(language), 12),
        Row(pgettext("receipt", "Amount paid"), receipt.pay.format(language)),
    ]
    if (fx := receipt.fx_display(language)) is not None:
        paid.append(Row(pgettext("receipt", "Exchange rate"), fx))
    paid += [
        Row(pgettext("receipt", "Paid with"), provider_name(receipt.provider, translations)),
        Row(pgettext("receipt", "Transaction no."), receipt.provider_trade_no),
    ]
    if receipt.counter is not None:
        paid += counter_rows(receipt.counter, language=language, translations=translations)
    sections = [
        [
            Row(pgettext("receipt", "Receipt no."), receipt.receipt_no),
            Row(pgettext("receipt", "Order no."), receipt.order_no),
            Row(
                pgettext("receipt", "Time (Hong Kong)"),
                f"{in_hong_kong(receipt.credited_at):%Y-%m-%d %H:%M:%S}",
            ),
        ],
        [
            Row(pgettext("receipt", "Number"), receipt.number_printed),
            Row(pgettext("receipt", "Holder"), receipt.holder_masked),
            Row(pgettext("receipt", "Plan"), receipt.plan.name(language)),
        ],
        paid,
    ]
    if receipt.promotions:
        label = pgettext("receipt", "Promotion")
        sections.append([Row(label, line) for line in receipt.promotion_lines(language)])
    if receipt.validity_until is not None:
        valid_until = f"{in_hong_kong(receipt.validity_until):%Y-%m-%d}"
        sections.append([Row(pgettext("receipt", "Valid until"), valid_until, 12)])
    title = pgettext("receipt", "Top-up receipt")
    return qr_sheet(title, sections, verify_url=verify_url, translations=translations)


def _svg_document(qr: segno.QRCode) -> bytes:
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", border=4, omitsize=True)
    return buffer.getvalue()


def _document(font: Path) -> FPDF:
    if not font.is_file():
        raise FontMissing(
            f"receipts need the CJK font {font}: install it with "
            f"`apt-get install {FONT_PACKAGE}` (the Makefile's browser-deps target does)"
        )
    pdf = FPDF(unit="mm")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(auto=False)
    pdf.set_creator("simkeep")
    pdf.add_font(_FAMILY, fname=font)
    return pdf


def _draw(pdf: FPDF, sheet: Sheet) -> None:
    _text(pdf, "simkeep", size=8, grey=True)
    _text(pdf, sheet.title, size=14)
    for section in sheet.sections:
        _rule(pdf)
        for row in section:
            _row(pdf, row)
    _rule(pdf)
    if sheet.verify_url:
        pdf.image(io.BytesIO(sheet.qr_svg), x=(PAGE_WIDTH - QR_WIDTH) / 2, w=QR_WIDTH)
        _text(pdf, sheet.caption, size=9)
        _text(pdf, sheet.verify_url, size=6.5, grey=True)


def _text(pdf: FPDF, text: str, *, size: float, grey: bool = False) -> None:
    _cell(pdf, text, width=CONTENT_WIDTH, size=size, line=size, grey=grey, align=Align.C)


def _row(pdf: FPDF, row: Row) -> None:
    """Label on the left, value on the right; a value too wide for its column (a provider's
    28-digit trade number) goes on its own line under the label rather than breaking."""
    top = pdf.get_y()
    _cell(pdf, row.label, width=LABEL_WIDTH, size=8.5, line=_BODY, grey=True, align=Align.L)
    label_bottom = pdf.get_y()
    pdf.set_font(_FAMILY, size=row.size)
    beside = pdf.get_string_width(row.value) <= CONTENT_WIDTH - LABEL_WIDTH
    if beside:
        pdf.set_xy(MARGIN + LABEL_WIDTH, top)
    width = CONTENT_WIDTH - LABEL_WIDTH if beside else CONTENT_WIDTH
    _cell(pdf, row.value, width=width, size=row.size, line=max(row.size, _BODY))
    pdf.set_y(max(label_bottom, pdf.get_y()) + 0.6)


def _cell(
    pdf: FPDF,
    text: str,
    *,
    width: float,
    size: float,
    line: float,
    grey: bool = False,
    align: Align = Align.R,
) -> None:
    pdf.set_font(_FAMILY, size=size)
    pdf.set_text_color(_GREY if grey else 0)
    pdf.multi_cell(
        width, line * _LINE * _PT, text, align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )


def _rule(pdf: FPDF) -> None:
    """A dashed line across the roll, as receipt printers draw them."""
    y = pdf.get_y() + 1.5
    pdf.set_draw_color(_GREY)
    pdf.set_line_width(0.2)
    with pdf.local_context():
        pdf.set_dash_pattern(dash=1, gap=1)
        pdf.line(MARGIN, y, PAGE_WIDTH - MARGIN, y)
    pdf.set_y(y + 2)
