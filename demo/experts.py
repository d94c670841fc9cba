"""A realistic expert pool for the demo and benchmarks, and the journey's experts and venues (journey.md step 6).

``generate_pool`` writes experts in bulk (Core inserts in batches, one audit event for the batch) with what a
provincial pool looks like: common surnames, valid identity numbers from real region codes, senior titles,
specialties weighted towards building and municipal works, employers shared Zipf-like (a few large design
institutes and contractors, many small firms), past employers with dates, some declared relations, a few
suspended or penalised experts and some planned absences. ``seed_demo_pool`` adds the journey's venues and
experts: 宁德 as the main venue, 福州 and 南平 as secondary venues, transport and cost experts near each, one
of them employed by a bidder until last year, and an account for each so the demo can be walked.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta

import sqlalchemy as sa

from core import account_operations as accounts
from core import audit
from core.accounts import Organisation, OrgKind, Role, User
from core.db import db
from core.validators import make_credit_code, regions
from evaluation import expert_operations as ops
from evaluation.draw_models import Venue
from evaluation.expert_identity import IdNumberHasher, make_id_number, seal_mobile
from evaluation.experts import (
    DeclaredRelation,
    Expert,
    ExpertSpecialty,
    PastEmployment,
    RelationKind,
    Unavailability,
)
from evaluation.recusal import ExpertStatus
from evaluation.specialties import leaf_codes
from evaluation.venue_operations import create_venue

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余于杜叶程魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷黎史龙陶贺顾毛郝龚邵万钱严赖覃洪武莫孔")
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华建国文斌辉鹏宇浩凯健俊帆琳晨阳鑫志海峰东亮婷雪梅兰红新春晓"
GROUP_WEIGHTS = {"A01": 18, "A02": 14, "A03": 7, "A04": 10, "A05": 8, "A06": 3, "A07": 3, "A08": 2, "A09": 5,
                 "B01": 12, "B02": 4, "B03": 2, "B04": 2, "C01": 5, "C02": 2, "C03": 1, "C04": 1, "C05": 1,
                 "D01": 1, "D02": 1, "D03": 1, "D04": 1}
TITLE_WEIGHTS = {"senior_engineer": 55, "professor_engineer": 12, "senior_economist": 7, "senior_accountant": 6,
                 "professor": 3, "associate_professor": 5, "researcher": 1, "associate_researcher": 2,
                 "chief_physician": 1, "associate_chief_physician": 1, "licensed_equivalent": 7}
EMPLOYER_KINDS = ("建筑设计研究院有限公司", "市政工程设计研究院有限公司", "水利水电勘测设计研究院", "交通规划设计院有限公司",
                  "建设工程有限公司", "建工集团有限公司", "工程造价咨询有限公司", "会计师事务所有限公司", "律师事务所",
                  "工程监理有限公司", "信息技术有限公司", "岩土工程勘察有限公司", "电力设计院有限公司", "职业技术学院")
BATCH = 2000


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


class PoolGenerator:
    def __init__(self, rng: random.Random):
        self.rng = rng
        names = regions()
        self.fujian = [c for c in names if c.startswith("35") and not c.endswith("00")]
        self.elsewhere = [c for c in names if not c.startswith("35") and c.endswith("00") and not c.endswith("0000")]
        self.leaves: dict[str, list[str]] = {}
        for code in leaf_codes():
            self.leaves.setdefault(code[:3], []).append(code)
        self.id_numbers: set[str] = set()
        self.hasher = IdNumberHasher()

    def employers(self, count: int, series: str = "A") -> list[tuple[str, str]]:
        """Employer names and valid credit codes; each ``series`` letter keeps its codes apart from the others."""
        cities = {"3501": "福州", "3502": "厦门", "3503": "莆田", "3504": "三明", "3505": "泉州", "3506": "漳州",
                  "3507": "南平", "3508": "龙岩", "3509": "宁德"}
        out = []
        for n in range(count):
            prefix = self.rng.choice(list(cities))
            name = f"{'福建省' if n % 7 == 0 else ''}{cities[prefix]}{self.rng.choice('恒建闽海宏润信达中正华兴')}"
            name += f"{self.rng.choice('源安泰诚通远鼎和盛嘉')}{self.rng.choice(EMPLOYER_KINDS)}"
            out.append((name, make_credit_code(f"91{prefix}00M{series}{n:07d}")))
        return out

    def id_number(self, region: str) -> str:
        while True:
            born = date(1955, 1, 1) + timedelta(days=self.rng.randrange(0, 35 * 365))
            number = make_id_number(f"{region}{born:%Y%m%d}{self.rng.randrange(0, 1000):03d}")
            if number not in self.id_numbers:
                self.id_numbers.add(number)
                return number

    def specialties(self) -> list[str]:
        group = _pick(self.rng, GROUP_WEIGHTS)
        codes = {self.rng.choice(self.leaves[group])}
        if self.rng.random() < 0.35:
            codes.add(self.rng.choice(self.leaves[group]))
        if self.rng.random() < 0.1:
            codes.add(self.rng.choice(self.leaves[_pick(self.rng, GROUP_WEIGHTS)]))
        return sorted(codes)

    def name(self) -> str:
        return self.rng.choice(SURNAMES) + "".join(self.rng.choice(GIVEN) for _ in range(self.rng.choice((1, 2, 2))))


def generate_pool(count: int, *, seed: int = 20261121, progress: Callable[[int], object] | None = None) -> int:
    """Add ``count`` experts in bulk; returns how many were added."""
    rng = random.Random(seed)
    gen = PoolGenerator(rng)
    employers = gen.employers(max(count // 15, 20))
    cumulative, total = [], 0.0
    for rank in range(len(employers)):
        total += 1 / (rank + 1) ** 0.9
        cumulative.append(total)
    serial = int(ops.next_code()[1:])
    existing = set(db.session.scalars(sa.select(Expert.id_number_hash)))
    today = date.today()
    made = 0
    for start in range(0, count, BATCH):
        rows, children = [], []
        for _ in range(min(BATCH, count - start)):
            region = rng.choice(gen.fujian) if rng.random() < 0.85 else rng.choice(gen.elsewhere)
            number = gen.id_number(region if region[4:] != "00" else region[:4] + "01")
            digest = gen.hasher(number)
            if digest in existing:
                continue
            employer = rng.choices(employers, cum_weights=cumulative)[0] if rng.random() < 0.9 else ("", "")
            status = rng.choices(list(ExpertStatus), (0.97, 0.02, 0.01))[0]
            rows.append({"code": f"E{serial:07d}", "name": gen.name(), "id_number_hash": digest,
                         "id_number_last4": number[-4:], "title": _pick(rng, TITLE_WEIGHTS), "region_code": region,
                         "mobile_sealed": seal_mobile(f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"),
                         "employer_name": employer[0], "employer_credit_code": employer[1], "status": status,
                         "status_reason": None if status is ExpertStatus.ACTIVE else "监督部门处理决定（演示数据）"})
            jobs = [(rng.choices(employers, cum_weights=cumulative)[0],
                     today - timedelta(days=rng.randrange(60, 4000))) for _ in range(rng.choice((0, 0, 1, 1, 2)))]
            relation = rng.choice(employers) if rng.random() < 0.05 else None
            away = today + timedelta(days=rng.randrange(0, 90)) if rng.random() < 0.05 else None
            children.append((gen.specialties(), jobs, relation, away))
            serial += 1
        ids = db.session.scalars(sa.insert(Expert).returning(Expert.id, sort_by_parameter_order=True), rows).all()
        specialties, past, relations, absences = [], [], [], []
        for expert_id, (codes, jobs, relation, away) in zip(ids, children, strict=False):
            specialties += [{"expert_id": expert_id, "code": c} for c in codes]
            past += [{"expert_id": expert_id, "employer_name": e[0], "credit_code": e[1],
                      "start": end - timedelta(days=rng.randrange(365, 3650)), "end": end} for e, end in jobs]
            if relation:
                relations.append({"expert_id": expert_id, "organisation_name": relation[0], "credit_code": relation[1],
                                  "kind": rng.choice(list(RelationKind)), "note": "演示数据"})
            if away:
                absences.append({"expert_id": expert_id, "start": away, "end": away + timedelta(days=rng.randrange(0, 10)),
                                 "reason": "出差"})
        for model, values in ((ExpertSpecialty, specialties), (PastEmployment, past), (DeclaredRelation, relations),
                              (Unavailability, absences)):
            if values:
                db.session.execute(sa.insert(model), values)
        made += len(rows)
        if progress:
            progress(len(rows))
    audit.record("expert.pool_generated", object_type="experts", count=made, seed=seed)
    return made


# -- the journey (journey.md step 6) ----------------------------------------------------------------------------

VENUES = [("NDGGZY-01", "宁德市公共资源交易中心远程异地评标室", "350900", 9, "350902 350981 350982"),
          ("FZGGZY-01", "福州市公共资源交易中心远程异地评标室", "350100", 9, ""),
          ("NPGGZY-01", "南平市公共资源交易中心远程异地评标室", "350700", 9, ""),
          ("XMGGZY-01", "厦门市公共资源交易中心远程异地评标室", "350200", 12, "")]
#: (city prefix, specialty codes, how many) for the section's 5 transport + 1 cost experts near each venue.
JOURNEY_GROUPS = [("3509", ("A0401", "A0402", "A0404"), 10), ("3501", ("A0401", "A0402", "A0403"), 10),
                  ("3507", ("A0401", "A0403"), 8), ("3509", ("B0105", "B0102"), 4), ("3501", ("B0105",), 4),
                  ("3507", ("B0105", "B0101"), 3)]
#: The seeded expert accounts, placed in the journey's groups: (group, index) → username.
NAMED = {(0, 1): "expert1", (1, 0): "expert2", (5, 0): "expert3"}


def seed_demo_pool(password: str | None = None) -> None:
    """Venues, the journey's experts (each with a sign-in) and a background pool; run inside demo seed."""
    from demo.seed import DEMO_PASSWORD

    password = password or DEMO_PASSWORD
    if db.session.scalar(sa.select(Venue.id).limit(1)):
        return
    centre = db.session.scalar(sa.select(Organisation).where(Organisation.kind == OrgKind.TRADING_CENTRE).limit(1))
    for code, name, region, seats, neighbours in VENUES:
        create_venue(code=code, name=name, region_code=region, seats=seats, neighbour_regions=neighbours,
                     organisation=centre if region == "350900" else None)
    rng = random.Random(6)
    gen = PoolGenerator(rng)
    bidders = db.session.scalars(sa.select(Organisation).where(Organisation.kind == OrgKind.BIDDER)
                                 .order_by(Organisation.credit_code)).all()
    employers = gen.employers(60, series="B")
    districts = {prefix: [c for c in gen.fujian if c.startswith(prefix)] for prefix in ("3501", "3507", "3509")}
    users = {u.username: u for u in db.session.scalars(sa.select(User).where(User.role == Role.EXPERT))}
    n = len(users)
    for g, (prefix, codes, count) in enumerate(JOURNEY_GROUPS):
        for i in range(count):
            region = rng.choice(districts[prefix])
            data = ops.ExpertInput(name=gen.name(), id_number=gen.id_number(region), title=_pick(rng, TITLE_WEIGHTS),
                                   region_code=region, specialties=[codes[i % len(codes)]],
                                   employer_name=employers[g * 10 + i][0], employer_credit_code=employers[g * 10 + i][1],
                                   mobile=f"139{rng.randrange(10**8):08d}")
            if g == 0 and i == 0 and len(bidders) > 1:  # journey: employed by a bidder until last year
                data.past_employments.append(ops.PastEmploymentInput(
                    bidders[1].name, bidders[1].credit_code, date(date.today().year - 1, 6, 30), date(2015, 3, 1)))
            expert = ops.create_expert(data, actor=None)
            user = users.get(NAMED.get((g, i), ""))
            if user is None:
                n += 1
                user = accounts.create_user(username=f"expert{n}", display_name=expert.name, password=password,
                                            role=Role.EXPERT, organisation=None)
            else:
                expert.name = user.display_name
            ops.link_user(expert, user, actor=None)
            if g == 1 and i == 1 and len(bidders) > 2:
                ops.declare_relation(expert, actor=user, organisation_name=bidders[2].name,
                                     credit_code=bidders[2].credit_code, kind=RelationKind.SHAREHOLDING.value,
                                     note="配偶持有该公司股份")
            if g == 2 and i == 2:
                ops.change_status(expert, ExpertStatus.SUSPENDED, actor=None, reason="宁建监〔2026〕12号：无故缺席评标")
    db.session.flush()
    generate_pool(200, seed=20261121)
