"""static/js/price_form.js applies the rules of trading/price_form.py: same problems, same normalised values."""
from __future__ import annotations

import pytest

from trading.price_form import PriceFormInvalid, validate_price_form

FIELDS = [
    {"key": "total_price", "label": "投标总价(元)", "type": "money", "required": True, "options": None},
    {"key": "duration_days", "label": "工期(日历天)", "type": "integer", "required": True, "options": None},
    {"key": "quality", "label": "质量标准", "type": "choice", "required": True, "options": ["合格", "优良"]},
    {"key": "rate", "label": "下浮率(%)", "type": "decimal", "required": False, "options": None},
    {"key": "start", "label": "开工日期", "type": "date", "required": False, "options": None},
    {"key": "note", "label": "备注", "type": "text", "required": False, "options": None},
]
VALID = {"total_price": "1,234,567.8", "duration_days": "365", "quality": "合格"}
CASES = [VALID, dict(VALID, rate="", start="", note="")]
CASES += [dict(VALID, total_price=v) for v in ("0", "-5", "12.345", "1e3", "１２３４", "abc", " 100.50 ", "1.500",
                                                 "1，000", "", "0.01", ".5")]
CASES += [dict(VALID, duration_days=v) for v in ("-3", "3.5", "三百", "０１２", "+4", "")]
CASES += [dict(VALID, quality=v) for v in ("优", "优良", "")]
CASES += [dict(VALID, rate=v) for v in ("1.50", "1e3", "0.0000001", ".5", "-0", "abc", "00.10", "5.", "1.5E-7")]
CASES += [dict(VALID, start=v) for v in ("2026-03-01", "20260301", "2026-02-30", "2026/03/01", "2026-3-1")]
CASES += [dict(VALID, note="说" * 500), dict(VALID, note="说" * 501), dict(VALID, unknown="1")]


def _python(values: dict) -> tuple[dict, list[str]]:
    try:
        return validate_price_form(FIELDS, values), []
    except PriceFormInvalid as exc:
        return {}, [key for key, _message in exc.problems]


@pytest.fixture()
def page(app, new_page, release):
    release()
    page = new_page()
    page.goto("/login/certificate")
    return page


def test_the_page_validates_the_price_form_exactly_as_the_server_does(page):
    results = page.evaluate("""async ({fields, cases}) => {
      const {validatePriceForm} = await import("/static/js/price_form.js");
      return cases.map((values) => validatePriceForm(fields, values));
    }""", {"fields": FIELDS, "cases": CASES})
    for values, result in zip(CASES, results, strict=True):
        clean, problems = _python(values)
        assert [key for key, _message in result["problems"]] == problems, values
        if not problems:
            assert result["clean"] == clean, values
    messages = {key: message for result in results for key, message in result["problems"]}
    assert messages["total_price"].startswith("投标总价(元)：")

