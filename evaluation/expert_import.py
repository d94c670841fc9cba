"""Importing experts from CSV or XLSX, with a validation report for every row.

Every row is checked field by field, so the report lists all of a row's problems at once (a bad identity
number, an unknown specialty or region code, a malformed date...), plus duplicates within the file and against
the pool. By default an import with any bad row imports nothing: the report says what to fix and the pool is
unchanged. ``valid_rows_only`` imports the good rows and reports the rest.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import sqlalchemy as sa

from core import audit
from core.accounts import User
from core.db import db
from core.errors import ValidationError
from core.validators import validate_credit_code, validate_region
from evaluation.expert_identity import (
    IdNumberHasher,
    validate_id_number,
    validate_mobile,
)
from evaluation.expert_operations import (
    ExpertInput,
    PastEmploymentInput,
    create_expert,
    next_code,
    parse_date,
    validate_expert,
    validate_past_employment,
)
from evaluation.experts import Expert
from evaluation.specialties import validate_specialty, validate_title

#: Column headers accepted for each field: the Chinese heading of the template, or the English field name.
COLUMNS = {
    "name": ("姓名", "name"),
    "id_number": ("身份证号", "身份证号码", "id_number"),
    "mobile": ("手机号", "手机", "mobile"),
    "title": ("职称", "title"),
    "region_code": ("地区代码", "行政区划代码", "region_code"),
    "specialties": ("专业代码", "specialties"),
    "employer_name": ("工作单位", "employer_name"),
    "employer_credit_code": ("单位统一社会信用代码", "单位信用代码", "employer_credit_code"),
    "past_employments": ("曾任职单位", "past_employments"),
}
REQUIRED = ("name", "id_number", "title", "region_code", "specialties")
MAX_ROWS = 20_000
MAX_BYTES = 10 * 1024 * 1024
SPLIT = re.compile(r"[;；、,，\s]+")
SPLIT_JOBS = re.compile(r"[;；\n]+")


@dataclass
class RowReport:
    row: int
    name: str
    errors: list[tuple[str, str]] = field(default_factory=list)
    code: str | None = None  # the expert code given on import

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class ImportReport:
    filename: str
    rows: list[RowReport]
    imported: int = 0

    @property
    def rejected(self) -> int:
        return sum(1 for r in self.rows if not r.ok)

    @property
    def valid(self) -> int:
        return len(self.rows) - self.rejected

    def as_json(self) -> dict:
        return {"filename": self.filename, "rows": len(self.rows), "valid": self.valid, "rejected": self.rejected,
                "imported": self.imported, "report": [
                    {"row": r.row, "name": r.name, "ok": r.ok, "code": r.code,
                     "errors": [{"field": f, "message": m} for f, m in r.errors]} for r in self.rows]}


def _records(data: bytes, filename: str) -> Iterator[dict]:
    if filename.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
        except Exception as exc:  # noqa: BLE001  (openpyxl raises many kinds for a damaged file)
            raise ValidationError(f"无法读取 XLSX 文件 (cannot read the XLSX file): {exc}", field="file") from None
        rows = sheet.iter_rows(values_only=True)
    elif filename.lower().endswith(".csv"):
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise ValidationError("CSV 文件应为 UTF-8 或 GB18030 编码 (CSV must be UTF-8 or GB18030)", field="file")
        rows = csv.reader(io.StringIO(text))
    else:
        raise ValidationError("请上传 .csv 或 .xlsx 文件 (upload a .csv or .xlsx file)", field="file")
    header = next(rows, None)
    if not header:
        raise ValidationError("文件为空 (the file is empty)", field="file")
    names = {alias: key for key, aliases in COLUMNS.items() for alias in aliases}
    keys = [names.get(str(h or "").strip()) for h in header]
    missing = [COLUMNS[k][0] for k in REQUIRED if k not in keys]
    if missing:
        raise ValidationError(f"缺少列：{'、'.join(missing)} (missing columns)", field="file")
    for values in rows:
        if values is None or all(v in (None, "") for v in values):
            yield None
            continue
        yield {k: v for k, v in zip(keys, values, strict=False) if k}


def _check(report: RowReport, field_name: str, check, *args, **kwargs) -> object:
    """Run one validator; on a refusal, note it against the field and go on with the row."""
    try:
        return check(*args, **kwargs)
    except ValidationError as exc:
        report.errors.append((field_name, exc.message))
        return None


def _past_jobs(text: str, report: RowReport) -> list[PastEmploymentInput]:
    """曾任职单位: entries "name|credit code|start|end" separated by semicolons; the start may be empty."""
    jobs = []
    for i, entry in enumerate(e for e in SPLIT_JOBS.split(text or "") if e.strip()):
        parts = [p.strip() for p in entry.split("|")]
        where = f"past_employments[{i}]"
        if len(parts) != 4:
            report.errors.append((where, f"曾任职单位应写作“单位名称|信用代码|入职日期|离职日期”，收到“{entry.strip()}” "
                                         "(expected name|credit code|start|end)"))
            continue
        start = _check(report, f"{where}.start", parse_date, parts[2], f"{where}.start") if parts[2] else None
        end = _check(report, f"{where}.end", parse_date, parts[3], f"{where}.end")
        if end is not None and (start is not None or not parts[2]):
            job = _check(report, where, validate_past_employment, PastEmploymentInput(parts[0], parts[1], end, start),
                         where)
            if job:
                jobs.append(job)
    return jobs


def _cell(raw: dict, key: str) -> str:
    value = raw.get(key)
    return "" if value is None else str(value).strip()


def validate_row(raw: dict, number: int) -> tuple[RowReport, ExpertInput | None]:
    report = RowReport(number, _cell(raw, "name"))
    if isinstance(raw.get("id_number"), (int, float)):
        report.errors.append(("id_number", "身份证号须以文本格式保存，数字格式会丢失末位 (store identity numbers as text: "
                                           "a number cell loses digits)"))
    else:
        _check(report, "id_number", validate_id_number, _cell(raw, "id_number"))
    _check(report, "title", validate_title, _cell(raw, "title"))
    _check(report, "region_code", validate_region, _cell(raw, "region_code"))
    codes = [c for c in SPLIT.split(_cell(raw, "specialties")) if c]
    if not codes:
        report.errors.append(("specialties", "请填写专业代码 (specialty codes required)"))
    for code in codes:
        _check(report, "specialties", validate_specialty, code, field="specialties", leaf=True)
    if _cell(raw, "employer_credit_code"):
        _check(report, "employer_credit_code", validate_credit_code, _cell(raw, "employer_credit_code"),
               field="employer_credit_code")
    if _cell(raw, "mobile"):
        _check(report, "mobile", validate_mobile, _cell(raw, "mobile"))
    jobs = _past_jobs(_cell(raw, "past_employments"), report)
    data = ExpertInput(name=_cell(raw, "name"), id_number=_cell(raw, "id_number"), title=_cell(raw, "title"),
                       region_code=_cell(raw, "region_code"), specialties=codes,
                       employer_name=_cell(raw, "employer_name"), employer_credit_code=_cell(raw, "employer_credit_code"),
                       mobile=_cell(raw, "mobile"), past_employments=jobs)
    return report, (data if report.ok else None)


def import_experts(stream: BinaryIO, filename: str, *, actor: User | None,
                   valid_rows_only: bool = False) -> ImportReport:
    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValidationError(f"文件超过{MAX_BYTES // 1024 // 1024}MB (file too large)", field="file")
    hasher = IdNumberHasher()
    report = ImportReport(filename, [])
    accepted: list[tuple[RowReport, ExpertInput, str]] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(_records(data, filename), start=2):
        if raw is None:
            continue
        if len(report.rows) >= MAX_ROWS:
            raise ValidationError(f"一次最多导入{MAX_ROWS}行 (at most {MAX_ROWS} rows per file)", field="file")
        row, clean = validate_row(raw, number)
        report.rows.append(row)
        if clean is None:
            continue
        clean, digest = _check(row, "_", validate_expert, clean, hasher) or (None, None)
        if clean is None:
            continue
        if digest in seen:
            row.errors.append(("id_number", f"与第{seen[digest]}行的身份证号重复 (duplicate of row {seen[digest]})"))
            continue
        seen[digest] = number
        accepted.append((row, clean, digest))
    digests = [d for _, _, d in accepted]
    existing: set[str] = set()
    for start in range(0, len(digests), 500):
        existing |= set(db.session.scalars(sa.select(Expert.id_number_hash).where(
            Expert.id_number_hash.in_(digests[start:start + 500]))))
    for row, _, digest in accepted:
        if digest in existing:
            row.errors.append(("id_number", "该身份证号已在专家库中 (already in the pool)"))
    if report.rejected and not valid_rows_only:
        return report
    serial = int(next_code()[1:])
    for row, clean, _ in accepted:
        if row.ok:
            row.code = create_expert(clean, actor=actor, hasher=hasher, code=f"E{serial:07d}").code
            serial += 1
            report.imported += 1
    audit.record("expert.imported", object_type="experts", actor=actor, filename=filename[:200],
                 sha256=hashlib.sha256(data).hexdigest(), rows=len(report.rows), imported=report.imported,
                 rejected=report.rejected)
    return report
