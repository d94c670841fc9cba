"""Synthetic sections for tests, benchmarks and demo seeds: honest-looking bids with nothing in common.

Technical modules are generated procedurally from a construction-bid vocabulary: chapter headings and
sentences built from templates, with the quantities, dates, standards and names each bidder would fill in
differently, so two generated modules share phrasing but not content (Jaccard of 5-character shingles well
under 0.5). :func:`rewrite_sentences` derives a near-duplicate by changing a few sentences, the usual way a
shared technical bid is disguised. Everything is driven by a seeded ``random.Random``, so results repeat.
"""
from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from supervision.collusion.model import BidEvidence

CHAPTERS = (
    "工程概况及编制依据", "施工总体部署", "施工进度计划及保证措施", "主要分部分项工程施工方法",
    "质量管理体系及保证措施", "安全生产管理体系及措施", "文明施工及环境保护措施", "项目管理机构及人员配备",
    "主要施工机械设备配置", "劳动力安排计划", "冬雨季施工措施", "成品保护措施", "新技术新工艺应用",
    "重难点分析及对策", "应急预案", "竣工验收及保修服务",
)
WORKS = (
    "土方开挖", "基坑支护", "钢筋工程", "模板工程", "混凝土浇筑", "砌体工程", "屋面防水", "外墙保温",
    "给排水管道安装", "电气配管穿线", "桩基施工", "路基填筑", "沥青面层摊铺", "水泥稳定碎石基层",
    "雨水管网", "污水检查井", "绿化种植", "钢结构吊装", "幕墙安装", "地坪施工", "抹灰工程", "管廊施工",
)
MATERIALS = (
    "HRB400钢筋", "商品混凝土", "P.O42.5水泥", "中粗砂", "碎石", "SBS改性沥青防水卷材", "加气混凝土砌块",
    "HDPE双壁波纹管", "镀锌钢管", "聚苯乙烯保温板", "沥青混合料", "透水砖", "花岗岩侧石", "铝合金型材",
)
EQUIPMENT = (
    "履带式挖掘机", "塔式起重机", "汽车起重机", "混凝土输送泵", "振动压路机", "沥青摊铺机", "平地机",
    "钢筋弯曲机", "电焊机", "全站仪", "水准仪", "洒水车", "自卸汽车", "旋挖钻机", "装载机", "发电机组",
)
STANDARDS = (
    "GB 50300", "GB 50204", "GB 50202", "GB 50207", "GB 50208", "JGJ 59", "JGJ 46", "JGJ 130", "CJJ 1",
    "CJJ 2", "GB 50268", "GB 50141", "JTG F40", "GB 50666", "JGJ 18", "GB 50411", "GB 50203",
)
ROLES = ("项目经理", "技术负责人", "施工员", "质检员", "安全员", "材料员", "资料员", "测量员", "预算员", "机管员")
MEASURES = (
    "三检制", "样板引路制度", "技术交底制度", "隐蔽工程验收制度", "挂牌施工制度", "质量一票否决制",
    "安全生产责任制", "班前安全讲话制度", "网格化管理", "首件验收制", "旁站监督", "限额领料制度",
)
PLACES = ("东侧", "西侧", "南侧", "北侧", "主入口", "地下室", "裙楼", "标准层", "屋面", "设备间", "沿线", "交叉口")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余于杜叶程魏苏吕丁任沈"
GIVEN = "伟芳娜秀敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红文斌辉鹏飞宇浩凯琳婷雪峰海波晨阳"
CITIES = ("福建", "福州", "厦门", "泉州", "漳州", "莆田", "三明", "南平", "龙岩", "宁德")
TRADE_NAMES = "鑫宏泰华建安恒达盛通源信诚晟隆昌兴远拓联创嘉瑞祥和丰锦荣永福"
TEMPLATES = (
    "{work}施工前，由{role}组织对作业班组进行书面技术交底，交底内容包括施工工艺、质量标准和安全注意事项，交底记录{n1}份存档备查。",
    "本工程{work}计划于开工后第{n1}天开始，持续{n2}个日历天，投入{equip}{n3}台、作业人员{n4}人。",
    "{material}进场时须提供出厂合格证和检验报告，并按{std}的规定每{n5}吨抽样复试一次，复试合格后方可使用。",
    "{place}{work}段长约{n6}米，采用分段流水施工，每段长度控制在{n7}米以内，相邻段高差不大于{n8}毫米。",
    "为保证{work}质量，项目部推行{measure}，每周由{role}组织一次质量检查，发现问题限期{n1}日内整改完毕。",
    "{equip}进场前应经检测合格，操作人员持证上岗；本工程计划配置{equip}{n3}台，额定功率{n9}千瓦。",
    "混凝土强度等级为C{n10}，坍落度控制在{n11}±20毫米，浇筑后{n12}小时内覆盖养护，养护期不少于{n13}天。",
    "根据{std}的要求，{work}允许偏差为±{n8}毫米，检验批合格率须达到{n14}%以上，一次验收合格率{n15}%。",
    "雨季施工期间，{place}设置临时排水沟{n6}米、集水井{n1}座，配备抽水泵{n3}台，确保基坑无积水。",
    "项目部设{role}{n1}名，负责{work}的日常管理，并建立{measure}，做到责任到人、奖罚分明。",
    "{work}完成后，按{std}组织分项验收，验收资料在{n12}小时内报送监理单位，形成验收记录{n5}份。",
    "施工现场{place}设置洗车平台{n1}处、围挡{n16}米，裸露土方采用防尘网全覆盖，PM10监测每{n12}小时记录一次。",
    "第{n1}施工段{work}的劳动力高峰期约{n4}人，计划于{month}月{day}日前完成，较合同工期提前{n2}天。",
    "针对{work}的重难点，我公司拟采用{material}及{equip}组合施工，经测算可缩短工期约{n2}天、节约成本{n17}万元。",
    "{role}每日对{place}进行巡查，重点检查{work}的临边防护、临时用电和{equip}的运行状态，形成巡查日志。",
    "夜间施工噪声控制在{n18}分贝以下，{place}距居民区约{n6}米，高噪声作业安排在{n19}时至{n20}时之间进行。",
    "对{material}实行{measure}，现场堆放高度不超过{n21}米，底部垫高{n22}厘米，并做好防雨防潮措施。",
    "应急物资储备包括{equip}{n3}台、沙袋{n16}只、应急照明{n1}套，应急演练每{n23}个月组织一次。",
)


SYNONYMS = (
    ("我公司", "我单位", "本公司", "我方", "本单位"), ("项目部", "项目经理部", "项目管理部"),
    ("确保", "保证", "保障", "力争"), ("施工", "作业"), ("检查", "检验", "巡检", "核查"),
    ("组织", "安排", "召集"), ("设置", "布设", "配置"), ("完成", "结束", "实现"), ("要求", "规定", "标准"),
    ("进场", "入场", "到场"), ("及时", "第一时间", "迅速"), ("严格", "认真", "切实"), ("措施", "办法", "手段"),
    ("人员", "员工", "工作人员"), ("管理", "管控", "控制"), ("根据", "依据", "按照"), ("采用", "使用", "选用"),
)
MORE_TEMPLATES = (
    "{person}任本工程{role}，具有{n24}年类似工程经验，负责{work}的技术指导和过程控制。",
    "{equip}选用{model}型，共{n3}台，由{person}统一调度，单台日产量约{n25}立方米。",
    "{project}{place}的{work}工程量约{n26}立方米，按每日{n25}立方米计算，需{n2}个工作日。",
    "{month}月{day}日前，{person}负责编制{work}专项施工方案，经{role}审核后报总监理工程师审批。",
    "本标段{work}拟分为{n1}个作业面同时施工，各作业面由{person}等{n3}名班组长分别负责。",
    "{material}单价按{n27}.{n28}元/吨控制，采购前比选供应商不少于{n3}家，并建立材料台账。",
)


class _Style:
    """One bidder's way of writing: its wording, staff, machine models and project names."""

    def __init__(self, rng: random.Random) -> None:
        chosen = rng.sample(TEMPLATES + MORE_TEMPLATES, k=max(8, int(0.7 * (len(TEMPLATES) + len(MORE_TEMPLATES)))))
        choices = [(group[0], rng.choice(group)) for group in SYNONYMS]
        self.templates = []
        for template in chosen:
            for plain, variant in choices:
                template = template.replace(plain, variant)
            self.templates.append(template)
        self.staff = [_person(rng) for _ in range(rng.randint(8, 20))]
        self.models = {e: f"{_letters(rng)}{rng.randint(20, 980)}{rng.choice(('', 'H', 'E', 'G'))}" for e in EQUIPMENT}
        self.project = rng.choice(("城东片区", "滨江新区", "高新园区", "老城区", "港口物流园")) + f"{rng.randint(1, 40)}号地块"


def _letters(rng: random.Random) -> str:
    return "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(rng.randint(2, 3)))


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _sentence(rng: random.Random, style: _Style) -> str:
    r = rng.randint
    equip = rng.choice(EQUIPMENT)
    return rng.choice(style.templates).format(
        work=rng.choice(WORKS), material=rng.choice(MATERIALS), equip=equip, model=style.models[equip],
        std=f"{rng.choice(STANDARDS)}-{r(2001, 2024)}", role=rng.choice(ROLES), measure=rng.choice(MEASURES),
        place=rng.choice(PLACES), month=r(1, 12), day=r(1, 28), person=rng.choice(style.staff),
        project=style.project,
        n1=r(1, 12), n2=r(3, 95), n3=r(1, 9), n4=r(8, 260), n5=r(30, 600), n6=r(40, 3800), n7=r(15, 120),
        n8=r(2, 15), n9=r(5, 320), n10=r(20, 50), n11=r(90, 200), n12=r(2, 48), n13=r(7, 28), n14=r(85, 99),
        n15=r(90, 100), n16=r(100, 2500), n17=r(2, 180), n18=r(50, 70), n19=r(6, 8), n20=r(20, 22),
        n21=r(1, 3), n22=r(10, 40), n23=r(1, 6), n24=r(5, 30), n25=r(80, 1500), n26=r(1000, 99999),
        n27=r(300, 6000), n28=r(0, 99),
    )


def technical_text(rng: random.Random, size_bytes: int) -> str:
    """A technical module of about ``size_bytes`` bytes of UTF-8: numbered chapters of generated sentences."""
    style = _Style(rng)
    parts: list[str] = []
    written = 0
    chapter = 0
    while written < size_bytes:
        chapter += 1
        heading = f"第{chapter}章 {rng.choice(CHAPTERS)}\n"
        parts.append(heading)
        written += len(heading.encode())
        for _ in range(rng.randint(3, 8)):
            paragraph = "".join(_sentence(rng, style) for _ in range(rng.randint(2, 6))) + "\n"
            parts.append(paragraph)
            written += len(paragraph.encode())
            if written >= size_bytes:
                break
    return "".join(parts)


def rewrite_sentences(text: str, rng: random.Random, fraction: float = 0.03) -> str:
    """A near-duplicate of ``text``: about ``fraction`` of its sentences replaced by newly generated ones."""
    style = _Style(rng)
    sentences = text.split("。")
    for index in range(len(sentences) - 1):
        if rng.random() < fraction:
            sentences[index] = _sentence(rng, style).rstrip("。")
    return "。".join(sentences)


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def _mac(rng: random.Random) -> str:
    octets = [rng.randint(0, 255) for _ in range(6)]
    octets[0] &= 0xFC  # unicast, globally administered
    return "-".join(f"{o:02X}" for o in octets)


def _public_ip(rng: random.Random) -> str:
    return f"{rng.choice((27, 36, 39, 58, 59, 110, 112, 117, 120, 183, 218, 220, 222))}.{rng.randint(0, 255)}." \
        f"{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _distinct(rng: random.Random, make: Callable[[random.Random], str], count: int) -> list[str]:
    seen: dict[str, None] = {}
    for _ in range(100 * count + 100):
        if len(seen) == count:
            break
        seen.setdefault(make(rng), None)
    else:
        raise ValueError(f"cannot make {count} distinct values for a synthetic section")
    return list(seen)


def clean_section(
    count: int,
    rng: random.Random,
    *,
    ceiling: Decimal = Decimal("12850000.00"),
    text_bytes: int = 16_000,
    deadline: datetime = datetime(2026, 12, 1, 1, 30, tzinfo=UTC),
) -> list[BidEvidence]:
    """``count`` honest bids: independent prices (85-99% of the ceiling), texts, machines, people, uploads."""
    names = _distinct(rng, lambda r: r.choice(CITIES) + "".join(r.sample(TRADE_NAMES, 2)) + "建设工程有限公司", count)
    people = _distinct(rng, _person, 2 * count)
    phones = _distinct(rng, lambda r: f"1{r.choice('3456789')}{r.randint(0, 999_999_999):09d}", count)
    bids = []
    for i in range(count):
        upload_ip = _public_ip(rng)
        price = (ceiling * Decimal(str(rng.uniform(0.85, 0.99)))).quantize(Decimal("0.01"))
        bids.append(
            BidEvidence(
                bid_id=f"B{i + 1:03d}",
                bidder_id=f"S{i + 1:03d}",
                bidder_name=names[i],
                machine_ids=(_hex(rng, 32).upper(),),
                mac_addresses=tuple(_mac(rng) for _ in range(rng.randint(1, 3))),
                host_hashes=(hashlib.sha256(f"DESKTOP-{_hex(rng, 7)}".encode()).hexdigest(),),
                certificate_serial=_hex(rng, 20).upper(),
                file_hashes={m: hashlib.sha256(_hex(rng, 32).encode()).hexdigest() for m in ("商务标", "技术标", "资信标")},
                technical_text=technical_text(rng, text_bytes) if text_bytes else None,
                upload_ip=upload_ip,
                decryption_ip=upload_ip if rng.random() < 0.7 else _public_ip(rng),
                guarantee_payer_account=f"{rng.randint(10**18, 10**19 - 1)}",
                deposit_account=f"{rng.randint(10**18, 10**19 - 1)}",
                contact_person=people[2 * i],
                contact_phone=phones[i],
                project_manager=people[2 * i + 1],
                price=price,
                ceiling_price=ceiling,
                uploaded_at=deadline - timedelta(seconds=rng.randint(600, 5 * 86_400)),
                errors=tuple(
                    f"清单{rng.randint(10**11, 10**12 - 1)}综合单价计算错误" for _ in range(rng.randint(0, 4))
                ),
            )
        )
    return bids
