"""Indicators that fire when different bidders share a value they should not share.

The creation fingerprint (machine id, MAC, host name hash, CA certificate) and the same IP point to bids
prepared or handled by the same unit or person (实施条例第40条(一)); the same guarantee payer or deposit
account to item (六); the same project manager to item (三) and the same contact person to 87号令. Each
shared value gives one record for the bids sharing it, worth the trigger points a group; values shared by the
same set of bids are merged into one record, so two bids with identical MAC lists count once.
"""
from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from supervision.collusion.common import distinct_bidders, make_evidence
from supervision.collusion.model import BidEvidence, Evidence, Indicator
from supervision.collusion.thresholds import CollusionThresholds

Normaliser = Callable[[str, CollusionThresholds], str | None]


def _plain(value: str, thresholds: CollusionThresholds) -> str | None:
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", value)).upper()
    return None if text in thresholds.ignored_values else text


def _mac(value: str, thresholds: CollusionThresholds) -> str | None:
    text = re.sub(r"[\s:\-.]", "", value).upper()
    if text in thresholds.ignored_macs or text in thresholds.ignored_values:
        return None
    return text


def _ip(value: str, thresholds: CollusionThresholds) -> str | None:
    text = value.strip()
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        text = text.lower()
    else:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        text = str(address)
    if text in thresholds.ignored_ips or text.upper() in thresholds.ignored_values:
        return None
    return text


def _account(value: str, thresholds: CollusionThresholds) -> str | None:
    text = re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", value)).upper()
    return None if text in thresholds.ignored_values else text


def _phone(value: str, thresholds: CollusionThresholds) -> str | None:
    digits = re.sub(r"\D", "", value)
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits or None


def _one(value: str | None) -> tuple[str, ...]:
    return (value,) if value else ()


# indicator, what the values are called (zh, en), how to read them from a bid, how to normalise them
SHARED_VALUE_RULES: tuple[tuple[Indicator, str, str, Callable[[BidEvidence], Iterable[str]], Normaliser], ...] = (
    (Indicator.SAME_MACHINE_ID, "机器码", "machine id", lambda b: b.machine_ids, _plain),
    (Indicator.SAME_MAC, "MAC地址", "MAC address", lambda b: b.mac_addresses, _mac),
    (Indicator.SAME_HOST, "计算机名特征", "host name hash", lambda b: b.host_hashes, _plain),
    (Indicator.SAME_CERTIFICATE, "CA证书序列号", "certificate serial", lambda b: _one(b.certificate_serial), _plain),
    (Indicator.SAME_UPLOAD_IP, "上传IP", "upload IP", lambda b: _one(b.upload_ip), _ip),
    (Indicator.SAME_DECRYPTION_IP, "解密IP", "decryption IP", lambda b: _one(b.decryption_ip), _ip),
    (Indicator.SAME_DOWNLOAD_IP, "下载IP", "download IP", lambda b: _one(b.download_ip), _ip),
    (Indicator.SAME_GUARANTEE_PAYER, "付款账户", "payer account", lambda b: _one(b.guarantee_payer_account), _account),
    (Indicator.SAME_DEPOSIT_ACCOUNT, "缴纳账户", "deposit account", lambda b: _one(b.deposit_account), _account),
    (Indicator.SAME_CONTACT, "联系人", "contact person", lambda b: _one(b.contact_person), _plain),
    (Indicator.SAME_CONTACT_PHONE, "联系电话", "contact phone", lambda b: _one(b.contact_phone), _phone),
    (Indicator.SAME_PROJECT_MANAGER, "项目负责人", "project manager", lambda b: _one(b.project_manager), _plain),
)


def _members_by_value(values_per_bid: Sequence[Iterable[str]]) -> dict[tuple[int, ...], list[str]]:
    """Sets of bids (by index) that share a value, each with the values they share."""
    index: dict[str, set[int]] = defaultdict(set)
    for position, values in enumerate(values_per_bid):
        for value in values:
            index[value].add(position)
    shared: dict[tuple[int, ...], list[str]] = defaultdict(list)
    for value, members in index.items():
        if len(members) >= 2:
            shared[tuple(sorted(members))].append(value)
    return shared


def shared_value_evidence(
    bids: Sequence[BidEvidence], thresholds: CollusionThresholds
) -> tuple[list[Evidence], dict[Indicator, str]]:
    """Evidence for every shared-value rule, and the rules skipped for lack of data (with the reason)."""
    evidence: list[Evidence] = []
    skipped: dict[Indicator, str] = {}
    for indicator, name_zh, name_en, read, normalise in SHARED_VALUE_RULES:
        values_per_bid = []
        for bid in bids:
            normalised = {normalise(raw, thresholds) for raw in read(bid) if raw}
            values_per_bid.append(sorted(v for v in normalised if v))
        if sum(1 for values in values_per_bid if values) < 2:
            skipped[indicator] = f"fewer than 2 bids carry a {name_en}"
            continue
        for members, values in sorted(_members_by_value(values_per_bid).items()):
            if distinct_bidders(bids, members) < 2:
                continue
            shown = "、".join(sorted(values))
            evidence.append(
                make_evidence(
                    indicator, bids, members, thresholds, {"field": name_en, "values": sorted(values)},
                    f"{name_zh}：{shown}", f"{name_en}: {', '.join(sorted(values))}",
                )
            )
    return evidence, skipped


def file_hash_evidence(
    bids: Sequence[BidEvidence], thresholds: CollusionThresholds
) -> tuple[list[Evidence], dict[Indicator, str]]:
    """The same file hash in the bids of different bidders, whatever module it was filed under."""
    if sum(1 for bid in bids if bid.file_hashes) < 2:
        return [], {Indicator.SAME_FILE_HASH: "fewer than 2 bids carry file hashes"}
    values_per_bid = [
        sorted({h for h in (_plain(v, thresholds) for v in bid.file_hashes.values() if v) if h}) for bid in bids
    ]
    evidence = []
    for members, hashes in sorted(_members_by_value(values_per_bid).items()):
        if distinct_bidders(bids, members) < 2:
            continue
        modules = sorted(
            {
                module
                for i in members
                for module, value in bids[i].file_hashes.items()
                if value and _plain(value, thresholds) in hashes
            }
        )
        evidence.append(
            make_evidence(
                Indicator.SAME_FILE_HASH, bids, members, thresholds,
                {"hashes": sorted(hashes), "modules": modules},
                f"{len(hashes)}个文件特征码相同（{'、'.join(modules)}）",
                f"{len(hashes)} identical file hash(es) ({', '.join(modules)})",
            )
        )
    return evidence, {}


def identical_error_evidence(
    bids: Sequence[BidEvidence], thresholds: CollusionThresholds
) -> tuple[list[Evidence], dict[Indicator, str]]:
    """Pairs of bids sharing ``min_identical_errors`` or more identical errors.

    Pairs that share exactly the same set of errors are merged into one record: three bids copying one
    faulty priced bill make one group worth the trigger points, not three pairs.
    """
    error_sets = [frozenset(e for e in bid.errors if e) for bid in bids]
    if sum(1 for errors in error_sets if errors) < 2:
        return [], {Indicator.IDENTICAL_ERRORS: "fewer than 2 bids carry identified errors"}
    holders: dict[str, list[int]] = defaultdict(list)
    for position, errors in enumerate(error_sets):
        for error in errors:
            holders[error].append(position)
    shared_counts: dict[tuple[int, int], int] = defaultdict(int)
    for positions in holders.values():
        for a_index, a in enumerate(positions):
            for b in positions[a_index + 1 :]:
                shared_counts[(a, b)] += 1
    by_errors: dict[frozenset[str], set[int]] = defaultdict(set)
    for (a, b), count in shared_counts.items():
        if count >= thresholds.min_identical_errors and bids[a].bidder_id != bids[b].bidder_id:
            by_errors[error_sets[a] & error_sets[b]].update((a, b))
    evidence = []
    for errors, members in sorted(by_errors.items(), key=lambda item: sorted(item[1])):
        listed = sorted(errors)
        evidence.append(
            make_evidence(
                Indicator.IDENTICAL_ERRORS, bids, sorted(members), thresholds,
                {"errors": listed, "count": len(listed)},
                f"{len(listed)}处相同错误：{'；'.join(listed[:5])}",
                f"{len(listed)} identical errors: {'; '.join(listed[:5])}",
            )
        )
    return evidence, {}
