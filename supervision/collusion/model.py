"""Plain data in and out of the bid-rigging (围标串标) analysis: what is known of each bid, and the clues found.

The Flask layer fills :class:`BidEvidence` from the bid files, the opening record and the guarantee records;
the analysis returns :class:`Evidence` records, pair and group scores in a :class:`CollusionReport` that
serialises to JSON (``to_dict``) so it can be stored and attached to the evaluation record. The report is for
supervisors only, never for bidders.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

BidId = int | str


class Indicator(StrEnum):
    """One published indicator (rules.md §5). The value is the stable code stored with a clue."""

    SAME_MACHINE_ID = "same_machine_id"
    SAME_MAC = "same_mac"
    SAME_HOST = "same_host"
    SAME_CERTIFICATE = "same_certificate"
    SAME_FILE_HASH = "same_file_hash"
    SIMILAR_TECHNICAL_TEXT = "similar_technical_text"
    SAME_UPLOAD_IP = "same_upload_ip"
    SAME_DECRYPTION_IP = "same_decryption_ip"
    SAME_DOWNLOAD_IP = "same_download_ip"
    SAME_GUARANTEE_PAYER = "same_guarantee_payer"
    SAME_DEPOSIT_ACCOUNT = "same_deposit_account"
    SAME_CONTACT = "same_contact"
    SAME_CONTACT_PHONE = "same_contact_phone"
    SAME_PROJECT_MANAGER = "same_project_manager"
    PRICE_PROGRESSION = "price_progression"
    UNIFORM_DISCOUNT = "uniform_discount"
    UPLOAD_TIME_CLUSTER = "upload_time_cluster"
    IDENTICAL_ERRORS = "identical_errors"

    @property
    def title_zh(self) -> str:
        return INDICATOR_TITLES[self][0]

    @property
    def title_en(self) -> str:
        return INDICATOR_TITLES[self][1]

    @property
    def basis(self) -> str:
        """The legal ground: 招标投标法实施条例第40条 item, or the local practice it rests on."""
        return INDICATOR_TITLES[self][2]


_ITEM1 = "实施条例第40条(一) 不同投标人的投标文件由同一单位或者个人编制"
_ITEM3 = "实施条例第40条(三) 不同投标人的投标文件载明的项目管理成员为同一人"
_ITEM4 = "实施条例第40条(四) 投标文件异常一致或者投标报价呈规律性差异"
_ITEM6 = "实施条例第40条(六) 不同投标人的投标保证金从同一单位或者个人的账户转出"

INDICATOR_TITLES: dict[Indicator, tuple[str, str, str]] = {
    Indicator.SAME_MACHINE_ID: ("机器码相同", "same machine id", _ITEM1),
    Indicator.SAME_MAC: ("网卡MAC地址相同", "same MAC address", _ITEM1),
    Indicator.SAME_HOST: ("计算机名相同", "same host name", _ITEM1),
    Indicator.SAME_CERTIFICATE: ("CA锁相同", "same CA certificate", _ITEM1),
    Indicator.SAME_FILE_HASH: ("文件特征码相同", "same file hash", _ITEM4),
    Indicator.SIMILAR_TECHNICAL_TEXT: ("技术标雷同", "near-duplicate technical bid", _ITEM4),
    Indicator.SAME_UPLOAD_IP: ("上传IP相同", "same upload IP", _ITEM1),
    Indicator.SAME_DECRYPTION_IP: ("解密IP相同", "same decryption IP", _ITEM1),
    Indicator.SAME_DOWNLOAD_IP: ("下载IP相同", "same download IP", _ITEM1),
    Indicator.SAME_GUARANTEE_PAYER: ("保证金（保函）付款账户相同", "same guarantee payer account", _ITEM6),
    Indicator.SAME_DEPOSIT_ACCOUNT: ("保证金缴纳账户相同", "same deposit account", _ITEM6),
    Indicator.SAME_CONTACT: ("联系人相同", "same contact person", "87号令; " + _ITEM1),
    Indicator.SAME_CONTACT_PHONE: ("联系电话相同", "same contact phone", "87号令; " + _ITEM1),
    Indicator.SAME_PROJECT_MANAGER: ("项目负责人相同", "same project manager", _ITEM3),
    Indicator.PRICE_PROGRESSION: ("报价呈规律性差异", "prices in progression", _ITEM4),
    Indicator.UNIFORM_DISCOUNT: ("报价下浮率一致", "uniform discount off the ceiling", _ITEM4),
    Indicator.UPLOAD_TIME_CLUSTER: ("上传时间集中", "upload times clustered", "地方实践 (核心指标)"),
    Indicator.IDENTICAL_ERRORS: ("清单计价错误雷同", "identical errors", _ITEM4),
}


class Level(StrEnum):
    WATCH = "watch"  # 关注: linked, below the alert score
    SUSPECTED = "suspected"  # 疑似串通投标: at or above the alert score

    @property
    def title_zh(self) -> str:
        return "关注" if self is Level.WATCH else "疑似串通投标"


@dataclass(frozen=True)
class BidEvidence:
    """What the platform knows of one bid in a section. Missing facts are None or empty and are skipped."""

    bid_id: BidId
    bidder_id: BidId
    bidder_name: str = ""
    machine_ids: tuple[str, ...] = ()
    mac_addresses: tuple[str, ...] = ()
    host_hashes: tuple[str, ...] = ()
    certificate_serial: str | None = None
    file_hashes: Mapping[str, str] = field(default_factory=dict)
    technical_text: str | None = None
    upload_ip: str | None = None
    decryption_ip: str | None = None
    download_ip: str | None = None
    guarantee_payer_account: str | None = None
    deposit_account: str | None = None
    contact_person: str | None = None
    contact_phone: str | None = None
    project_manager: str | None = None
    price: Decimal | None = None
    ceiling_price: Decimal | None = None
    uploaded_at: datetime | None = None
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Evidence:
    """One clue: an indicator that fired for a set of bids, with the figures behind it (JSON-safe)."""

    indicator: Indicator
    bid_ids: tuple[BidId, ...]
    points: float
    detail: Mapping[str, Any]
    summary_zh: str
    summary_en: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "indicator": self.indicator.value,
            "title_zh": self.indicator.title_zh,
            "title_en": self.indicator.title_en,
            "basis": self.indicator.basis,
            "bid_ids": list(self.bid_ids),
            "points": self.points,
            "detail": dict(self.detail),
            "summary_zh": self.summary_zh,
            "summary_en": self.summary_en,
        }


@dataclass(frozen=True)
class PairScore:
    bid_ids: tuple[BidId, BidId]
    score: float
    indicators: tuple[Indicator, ...]
    level: Level | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "bid_ids": list(self.bid_ids),
            "score": self.score,
            "indicators": [i.value for i in self.indicators],
            "level": self.level.value if self.level else None,
        }


@dataclass(frozen=True)
class GroupScore:
    """Bids linked by clues (union-find over pairs scoring at least the link threshold)."""

    bid_ids: tuple[BidId, ...]
    bidder_ids: tuple[BidId, ...]
    score: float
    indicators: tuple[Indicator, ...]
    evidence: tuple[int, ...]  # indexes into CollusionReport.evidence
    level: Level

    def to_dict(self) -> dict[str, Any]:
        return {
            "bid_ids": list(self.bid_ids),
            "bidder_ids": list(self.bidder_ids),
            "score": self.score,
            "indicators": [i.value for i in self.indicators],
            "evidence": list(self.evidence),
            "level": self.level.value,
        }


@dataclass(frozen=True)
class PriceScreens:
    """Screens from the literature, reported as figures only (no points): low CV, high RD suggest cover bids.

    CV = σ/μ of all prices; DIFFP = (p2 − p1)/p1 for the two lowest; RD = (p2 − p1)/σ(p2…pn), σ over the
    losing bids. σ is the population standard deviation. A figure is None where it is undefined.
    """

    count: int
    cv: float | None
    diffp: float | None
    rd: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "cv": self.cv, "diffp": self.diffp, "rd": self.rd}


@dataclass(frozen=True)
class CollusionReport:
    bid_ids: tuple[BidId, ...]
    evidence: tuple[Evidence, ...]
    pairs: tuple[PairScore, ...]
    groups: tuple[GroupScore, ...]
    screens: PriceScreens
    indicators_run: tuple[Indicator, ...]
    indicators_skipped: Mapping[Indicator, str]

    @property
    def has_clues(self) -> bool:
        return bool(self.evidence)

    def evidence_for(self, indicator: Indicator) -> tuple[Evidence, ...]:
        return tuple(e for e in self.evidence if e.indicator is indicator)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bid_ids": list(self.bid_ids),
            "evidence": [e.to_dict() for e in self.evidence],
            "pairs": [p.to_dict() for p in self.pairs],
            "groups": [g.to_dict() for g in self.groups],
            "screens": self.screens.to_dict(),
            "indicators_run": [i.value for i in self.indicators_run],
            "indicators_skipped": {i.value: reason for i, reason in self.indicators_skipped.items()},
        }
