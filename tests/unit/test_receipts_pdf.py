"""Receipts on paper: the PDF in each language, its embedded font and its QR code."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from gettext import NullTranslations
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader

from simkeep import i18n
from simkeep.money import Money
from simkeep.receipts.model import receipt_signature, verification_path
from simkeep.receipts.pdf import PAGE_WIDTH, FontMissing, render_pdf
from tests.unit.test_receipts import KEY, PLAN, RECEIPT_NO, receipt

VERIFY_URL = "https://simkeep.example" + verification_path(
    RECEIPT_NO, receipt_signature(KEY, RECEIPT_NO)
)

# What each language's receipt must say: its labels, and amounts in the locale's style.
EXPECTED = {
    "zh_Hant_HK": [
        "增值收據",
        "收據編號",
        "時間（香港）",
        "登記人",
        "增值金額",
        "付款金額",
        "匯率",
        "交易編號",
        "有效期至",
        "掃描二維碼核實此收據",
        "HK$100.00",
        "CN¥92.00",
        "中港通365保號計劃",
        "支付寶",
    ],
    "zh_Hans_CN": [
        "充值收据",
        "收据编号",
        "时间（香港）",
        "机主",
        "充值金额",
        "支付金额",
        "汇率",
        "交易单号",
        "有效期至",
        "扫码验证此收据",
        "HK$100.00",
        "¥92.00",
        "中港通365保号计划",
        "支付宝",
    ],
    "en": [
        "Top-up receipt",
        "Receipt no.",
        "Time (Hong Kong)",
        "Holder",
        "Amount credited",
        "Amount paid",
        "Exchange rate",
        "Transaction no.",
        "Valid until",
        "Scan to verify this receipt",
        "HK$100.00",
        "CN¥92.00",
        "China–HK365numberkeeper",
        "Alipay",
    ],
}


def squeeze(text: str) -> str:
    """Text without whitespace: extraction spaces words and wraps lines its own way."""
    return re.sub(r"\s+", "", text)


def page_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    return squeeze(reader.pages[0].extract_text())


def render(language: str, **changes: object) -> bytes:
    return render_pdf(
        receipt(**changes),
        language=language,
        verify_url=VERIFY_URL,
        translations=i18n.translations(language),
    )


@pytest.fixture(scope="module")
def receipts() -> dict[str, bytes]:
    return {language: render(language) for language in i18n.LOCALES}


@pytest.mark.parametrize("language", list(EXPECTED))
def test_receipt_says_what_happened_in_its_language(
    receipts: dict[str, bytes], language: str
) -> None:
    text = page_text(receipts[language])
    for expected in [
        *EXPECTED[language],
        RECEIPT_NO,
        "T2611250000123456",
        "2026-11-2514:03:07",  # 06:03:07 UTC in Hong Kong time
        "+85251234567",
        "陳*明",
        "1HKD=0.9200CNY",
        "2026112522001412345678901234",
        "2027-11-25",  # 15:59:59 UTC is the next day in Hong Kong
    ]:
        assert squeeze(expected) in text, f"{expected!r} missing from the {language} receipt"


def test_labels_differ_per_language(receipts: dict[str, bytes]) -> None:
    assert "Amountpaid" not in page_text(receipts["zh_Hant_HK"])
    assert "付款金額" not in page_text(receipts["zh_Hans_CN"])
    assert "支付金额" not in page_text(receipts["en"])


@pytest.mark.parametrize("language", list(EXPECTED))
def test_the_plan_is_named_in_the_receipts_language_only(
    receipts: dict[str, bytes], language: str
) -> None:
    text = page_text(receipts[language])
    for other in EXPECTED:
        name = squeeze(PLAN.name(other))
        assert (name in text) is (other == language), f"{name} on the {language} receipt"


def test_the_provider_is_named_in_the_receipts_language_only(receipts: dict[str, bytes]) -> None:
    assert "Alipay" not in page_text(receipts["zh_Hant_HK"])
    assert "支付寶" not in page_text(receipts["zh_Hans_CN"])
    assert "支付宝" not in page_text(receipts["zh_Hant_HK"])


def test_cjk_font_is_embedded(receipts: dict[str, bytes]) -> None:
    reader = PdfReader(io.BytesIO(receipts["zh_Hant_HK"]))
    fonts = reader.pages[0]["/Resources"]["/Font"]
    descendants = [
        descendant.get_object()
        for font in fonts.values()
        for descendant in font.get_object()["/DescendantFonts"]
    ]
    assert descendants, "no composite (CID) font"
    for font in descendants:
        assert "WenQuanYi" in font["/BaseFont"]
        assert "/FontFile2" in font["/FontDescriptor"].get_object(), "font not embedded"
    assert all("/ToUnicode" in font.get_object() for font in fonts.values())


def test_receipt_is_one_roll_page_80_mm_wide(receipts: dict[str, bytes]) -> None:
    page = PdfReader(io.BytesIO(receipts["en"])).pages[0]
    assert float(page.mediabox.width) == pytest.approx(PAGE_WIDTH / 25.4 * 72, abs=0.01)
    assert 100 < float(page.mediabox.height) / 72 * 25.4 < 250  # as tall as its content


def test_same_currency_receipt_has_no_exchange_rate_line() -> None:
    text = page_text(render("en", pay=Money(10_000, "HKD"), fx_rate=None))
    assert "Amountpaid" in text
    assert "Exchangerate" not in text


def test_qr_code_decodes_to_the_verification_link(
    receipts: dict[str, bytes], tmp_path: Path
) -> None:
    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm, "pdftoppm is missing: apt-get install poppler-utils (make browser-deps)"
    pdf_path = tmp_path / "receipt.pdf"
    pdf_path.write_bytes(receipts["zh_Hant_HK"])
    subprocess.run(
        [pdftoppm, "-r", "200", "-png", "-singlefile", pdf_path, tmp_path / "receipt"],
        check=True,
    )
    with Image.open(tmp_path / "receipt.png") as image:
        found = zxingcpp.read_barcodes(image)
    assert [(code.format, code.text) for code in found] == [
        (zxingcpp.BarcodeFormat.QRCode, VERIFY_URL)
    ]


def test_the_same_receipt_renders_the_same_file(receipts: dict[str, bytes]) -> None:
    assert render("en") == receipts["en"]


def test_missing_font_names_the_package_to_install(tmp_path: Path) -> None:
    with pytest.raises(FontMissing, match="fonts-wqy-zenhei"):
        render_pdf(
            receipt(),
            language="en",
            verify_url=VERIFY_URL,
            translations=NullTranslations(),
            font=tmp_path / "absent.ttc",
        )


def write_po(path: Path, entries: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f'\nmsgid "{key}"\nmsgstr "{value}"\n' for key, value in entries.items())
    path.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n' + body)


def test_every_po_file_of_a_locale_is_merged(tmp_path: Path) -> None:
    write_po(tmp_path / "en" / "LC_MESSAGES" / "messages.po", {"Language": "Language!"})
    write_po(tmp_path / "en" / "LC_MESSAGES" / "receipts.po", {"Receipt": "Receipt!"})
    catalog = i18n.load_catalog("en", tmp_path)
    assert catalog.gettext("Language") == "Language!"
    assert catalog.gettext("Receipt") == "Receipt!"


def test_a_message_translated_differently_in_two_files_is_refused(tmp_path: Path) -> None:
    write_po(tmp_path / "en" / "LC_MESSAGES" / "messages.po", {"Plan": "Plan"})
    write_po(tmp_path / "en" / "LC_MESSAGES" / "receipts.po", {"Plan": "Tariff"})
    with pytest.raises(ValueError, match="translated differently"):
        i18n.load_catalog("en", tmp_path)


def test_shipped_catalogs_hold_both_pages_and_receipts() -> None:
    catalogs = {code: i18n.translations(code) for code in i18n.LOCALES}
    assert catalogs["zh_Hant_HK"].gettext("Language") == "語言"
    assert catalogs["zh_Hant_HK"].pgettext("receipt", "Amount paid") == "付款金額"
    assert catalogs["zh_Hans_CN"].pgettext("receipt", "Amount paid") == "支付金额"
