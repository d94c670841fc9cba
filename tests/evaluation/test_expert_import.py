"""Importing experts from CSV and XLSX: a report for every row, and a bad row changes nothing unless asked."""
from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from core.accounts import Role
from core.db import db
from core.errors import ValidationError
from evaluation.expert_identity import make_id_number
from evaluation.expert_import import import_experts
from evaluation.experts import Expert
from tests.evaluation import draw_helpers as h

HEADER = ["姓名", "身份证号", "手机号", "职称", "地区代码", "专业代码", "工作单位", "单位统一社会信用代码", "曾任职单位"]


def row(n: int, **changes) -> dict:
    values = {"姓名": f"陈{'一二三四五六七八九'[n % 9]}明", "身份证号": make_id_number(f"350902197001{n % 28 + 1:02d}{n:03d}"),
              "手机号": f"1395030{n:04d}", "职称": "高级工程师", "地区代码": "350902", "专业代码": "A0401；A0402",
              "工作单位": f"宁德某设计院{n}", "单位统一社会信用代码": h.employer_code(n + 100),
              "曾任职单位": f"福建某建工集团|{h.employer_code(n + 200)}|2010-01-01|2018-06-30"}
    return values | changes


def csv_bytes(rows: list[dict], encoding: str = "utf-8-sig") -> io.BytesIO:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=HEADER)
    writer.writeheader()
    writer.writerows(rows)
    return io.BytesIO(text.getvalue().encode(encoding))


def count() -> int:
    return db.session.scalar(sa.select(sa.func.count(Expert.id)))


def test_a_valid_file_is_imported_with_codes_and_employment_history(app):
    report = import_experts(csv_bytes([row(1), row(2), row(3)]), "experts.csv", actor=None)
    assert (report.imported, report.rejected) == (3, 0)
    assert [r.row for r in report.rows] == [2, 3, 4] and all(r.code for r in report.rows)
    expert = db.session.scalar(sa.select(Expert).where(Expert.code == report.rows[0].code))
    assert expert.specialty_codes == ["A0401", "A0402"]
    assert expert.past_employments[0].end.isoformat() == "2018-06-30"


def test_bad_rows_are_reported_field_by_field_and_nothing_is_imported(app):
    good = make_id_number("35090219700102002")
    bad = [row(1),
           row(2, 身份证号=good[:-1] + ("1" if good[-1] != "1" else "2")),   # wrong check character
           row(3, 专业代码="A04 Z9901", 地区代码="350999"),                      # group code, unknown code, region
           row(4, 曾任职单位=f"福建某建工集团|{h.employer_code(5)}|2010-01-01|2018-02-30"),  # no 30 February
           row(5, 单位统一社会信用代码="91350100MA0000000X"),
           row(6, 身份证号=row(1)["身份证号"])]                                  # same person twice
    report = import_experts(csv_bytes(bad), "experts.csv", actor=None)
    assert report.imported == 0 and count() == 0
    problems = {r.row: dict(r.errors) for r in report.rows}
    assert problems[2] == {} and "校验位错误" in problems[3]["id_number"]
    assert set(problems[4]) == {"specialties", "region_code"} and "Z9901" in str(report.rows[2].errors)
    assert "2018-02-30" in problems[5]["past_employments[0].end"]
    assert "校验位" in problems[6]["employer_credit_code"]
    assert "与第2行的身份证号重复" in problems[7]["id_number"]


def test_valid_rows_only_imports_the_good_rows_and_reports_the_rest(app):
    report = import_experts(csv_bytes([row(1), row(2, 职称="院士"), row(3)]), "experts.csv", actor=None,
                            valid_rows_only=True)
    assert (report.imported, report.rejected, count()) == (2, 1, 2)
    again = import_experts(csv_bytes([row(3)]), "again.csv", actor=None)
    assert "已在专家库中" in dict(again.rows[0].errors)["id_number"] and count() == 2


def test_xlsx_files_import_and_a_numeric_identity_cell_is_refused(app):
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    sheet.append(list(row(1).values()))
    numeric = row(2)
    numeric["身份证号"] = int(numeric["身份证号"][:15])
    sheet.append(list(numeric.values()))
    sheet.append([None] * len(HEADER))
    data = io.BytesIO()
    book.save(data)
    data.seek(0)
    report = import_experts(data, "experts.xlsx", actor=None)
    assert len(report.rows) == 2 and report.rows[0].ok
    assert "文本格式" in dict(report.rows[1].errors)["id_number"] and count() == 0


def test_gb18030_csv_and_english_headers_are_accepted(app):
    text = "name,id_number,title,region_code,specialties\n林海,%s,senior_engineer,350102,B0101\n" % make_id_number(
        "35010219800202001")
    assert import_experts(io.BytesIO(text.encode("gb18030")), "e.csv", actor=None).imported == 1


@pytest.mark.parametrize("content, filename, message", [
    (b"name,title\n", "e.csv", "缺少列"), (b"", "e.csv", "文件为空"), (b"x", "e.txt", ".csv 或 .xlsx"),
    (b"PK\x03\x04broken", "e.xlsx", "无法读取"),
])
def test_unreadable_files_are_refused(app, content, filename, message):
    with pytest.raises(ValidationError, match=message):
        import_experts(io.BytesIO(content), filename, actor=None)


def test_the_import_page_and_the_api_show_the_report(app, client, factory):
    admin = factory.user(Role.ADMIN)
    factory.login(client, admin)
    response = client.post("/experts/import", data={"file": (csv_bytes([row(1), row(2, 地区代码="12")]), "e.csv")},
                           content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "未导入任何数据" in page and 'data-row="3"' in page and count() == 0
    api = client.application.test_client()
    headers = factory.token(api, admin)
    answer = api.post("/api/v1/experts/import", data={"file": (csv_bytes([row(1)]), "e.csv")}, headers=headers,
                      content_type="multipart/form-data")
    assert answer.status_code == 200 and answer.get_json()["imported"] == 1
    assert answer.get_json()["report"][0]["code"].startswith("E")
