"""Deterministic flash-sale traffic simulator with ground-truth labels.

Produces ``riskstream.order/v1`` events for 2026-11-11 (+08:00): a day of ordinary traffic around
the flash sale ``S1111-2000`` (20:00-20:30), benign crowds that look suspicious (campus and
carrier NAT, dormitories, families, offices, new accounts, pickup points) and abusive ones that try to look
benign (scalper rings, lone resellers, coupon farmers).  Each event also carries ``label``
(1 abusive, 0 benign) and ``scenario``; no other field gives them away.

Each scenario is a generator that plans its orders (times plus the entities its groups share)
and builds each event only when it is emitted, so memory follows the plans, not the events.
The streams are merged by time and order ids assigned after the merge.  Each scenario draws
from its own ``random.Random`` seeded with (seed, scenario): a seed gives byte-identical output.
"""

from __future__ import annotations

import heapq
import os
import random
import sys
from bisect import bisect
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from datetime import date, datetime, timedelta, timezone
from itertools import accumulate
from operator import itemgetter

import orjson

__all__ = ["FLASH_SKUS", "LIST_PRICES", "SALE_END", "SALE_ID", "SALE_START", "SCENARIOS",
           "scenario_counts", "simulate", "write_jsonl"]

TZ = timezone(timedelta(hours=8))
SALE_ID = "S1111-2000"
SALE_START = datetime(2026, 11, 11, 20, 0, tzinfo=TZ)
SALE_END = datetime(2026, 11, 11, 20, 30, tzinfo=TZ)
FLASH_SKUS: dict[str, float] = {"FS-PHONE-01": 3999.0, "FS-GPU-01": 4999.0,
                                "FS-SHOE-01": 1299.0, "FS-WATCH-01": 2499.0}
#: Regular price of the flash SKUs outside the sale window (such orders carry no ``sale_id``).
LIST_PRICES: dict[str, float] = {"FS-PHONE-01": 4999.0, "FS-GPU-01": 6299.0,
                                 "FS-SHOE-01": 1599.0, "FS-WATCH-01": 2999.0}

# Internal times are integer milliseconds since 2026-11-11T00:00:00+08:00.
DAY_MS, HOUR_MS, MIN_MS = 86_400_000, 3_600_000, 60_000
START, END = 20 * HOUR_MS, 20 * HOUR_MS + 30 * MIN_MS
_DAY0 = date(2026, 11, 11)
_TOD = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
_DAY0_TOD = [f"{_DAY0.isoformat()}T{tod}" for tod in _TOD]
_DATES: dict[int, str] = {}


def _ts(ms: int) -> str:
    """RFC 3339 text (+08:00, milliseconds) of an internal time: the one time formatter."""
    if 0 <= ms < DAY_MS:  # event times: the simulated day
        s, milli = divmod(ms, 1000)
        return f"{_DAY0_TOD[s]}.{milli:03d}+08:00"
    d, rem = divmod(ms, DAY_MS)
    day = _DATES.get(d)
    if day is None:
        day = _DATES[d] = (_DAY0 + timedelta(days=d)).isoformat()
    s, milli = divmod(rem, 1000)
    return f"{day}T{_TOD[s]}.{milli:03d}+08:00"


# ----------------------------------------------------------------------------- reference data
def _table(weights: list[int]) -> list[int]:
    """Indices repeated by weight, for weighted picks with one uniform draw."""
    return [i for i, w in enumerate(weights) for _ in range(w)]


# Orders per hour of an ordinary day: quiet at night, lunch and evening peaks, the sale hour.
_DAY_CUM = list(accumulate([2, 1.2, .7, .4, .3, .4, .8, 1.6, 2.6, 3.4, 4, 4.6, 6, 5.2, 4, 3.8, 3.9, 4.2, 4.8, 6,
                             14, 8.5, 6.5, 4]))
_OFFICE_CUM = list(accumulate([0] * 8 + [.5, 3, 4, 4, 6, 5, 4, 4, 4, 3, 1.5, .5, 0, 0, 0, 0]))

_CITIES = [(region, city, tuple(districts.split(",")), postal) for region, city, districts, postal in (
    line.split() for line in """北京市 北京市 海淀区,朝阳区,东城区,西城区,丰台区,昌平区 100
    上海市 上海市 浦东新区,徐汇区,静安区,闵行区,杨浦区 200 | 广东省 广州市 天河区,越秀区,海珠区,番禺区 510
    广东省 深圳市 南山区,福田区,宝安区,龙岗区 518 | 浙江省 杭州市 西湖区,余杭区,滨江区,拱墅区 310
    江苏省 南京市 鼓楼区,玄武区,江宁区 210 | 江苏省 苏州市 姑苏区,吴中区,虎丘区 215
    四川省 成都市 武侯区,锦江区,成华区,双流区 610 | 湖北省 武汉市 洪山区,江汉区,武昌区 430
    陕西省 西安市 雁塔区,碑林区,未央区 710 | 重庆市 重庆市 渝中区,江北区,沙坪坝区 400
    天津市 天津市 南开区,和平区,河西区 300 | 山东省 青岛市 市南区,崂山区,黄岛区 266
    河南省 郑州市 金水区,二七区,中原区 450 | 湖南省 长沙市 岳麓区,芙蓉区,天心区 410
    福建省 厦门市 思明区,湖里区,集美区 361""".replace("|", "\n").splitlines())]
_CITY_TABLE = _table([10, 10, 6, 8, 7, 4, 4, 5, 4, 3, 4, 3, 2, 3, 3, 2])
_ROADS = ("中关村大街 人民路 解放路 中山路 建设路 长江路 学府路 科技园路 滨江大道 文三路 天府大道 南京西路 "
          "深南大道 东风路 和平路 新华路 建国路 青年路 花园路 黄河路 五一路 朝阳路 光明路 幸福大街 金沙路 "
          "迎宾路 胜利路 友谊路 团结路 文化路").split()
_ESTATES = ("阳光花园 翠苑小区 金色家园 幸福里 锦绣华庭 碧水湾 万象城 世纪城 春江花月 和平新村 紫荆园 "
            "梧桐苑 枫林绿洲 东方明珠苑 名都花园").split() + [""]  # "": no estate name
_BSUF = ("号楼", "栋", "幢")  # ways to say "building"
_P3 = [f"{i % 1000:03d}" for i in range(1024)]
_PICKUP_NAMES = ("菜鸟驿站", "丰巢快递柜", "快递代收点", "兔喜生活超市")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾"
_GIVEN = ("伟 芳 娜 秀英 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀兰 霞 平 刚 桂英 浩然 子轩 雨涵 "
          "欣怡 梓涵 一诺 宇轩 思远 佳怡 俊杰 晓东 文博 婷 鹏 丹").split()
_CAMPUSES = [  # city index, district, campus and dorm estate, postal code
    (0, "海淀区", "双清路30号清华大学紫荆公寓", "100084"), (8, "武昌区", "八一路299号武汉大学枫园", "430072"),
    (4, "西湖区", "余杭塘路866号浙江大学紫金港校区蓝田", "310058"),
    (7, "双流区", "川大路二段2号四川大学江安校区西园", "610207"),
    (2, "番禺区", "外环东路132号中山大学东校区至善园", "510006"),
    (9, "碑林区", "咸宁西路28号西安交通大学兴庆校区东", "710049"),
    (1, "杨浦区", "邯郸路220号复旦大学本部南区", "200433"), (5, "江宁区", "佛城西路8号河海大学江宁校区", "211100")]
_OFFICES = [  # city index, district, office building, postal code
    (1, "浦东新区", "世纪大道100号环球金融中心", "200120"), (0, "朝阳区", "建国路88号现代城", "100022"),
    (3, "南山区", "科技南十二路18号长虹科技大厦", "518057"), (4, "余杭区", "文一西路969号海创园", "311121"),
    (7, "武侯区", "天府大道中段1268号天府软件园", "610041"), (0, "海淀区", "上地信息路26号创业中心", "100085")]
_WEST = [  # city, region, country, postcodes
    ("London", "England", "GB", ("NW1 6XE", "SW1A 2AA", "E1 6AN", "W1D 3QU")),
    ("Manchester", "England", "GB", ("M1 1AE", "M4 5JD")),
    ("New York, NY", "New York", "US", ("10001", "10027", "11201")),
    ("San Francisco, CA", "California", "US", ("94103", "94110")),
    ("Sydney NSW", "New South Wales", "AU", ("2000", "2010")), ("Toronto, ON", "Ontario", "CA", ("M5V 2T6", "M4C 1B5"))]
_WEST_STREETS = ("Baker Street|High Street|Oxford Road|Main Street|Elm Avenue|Queen's Road|King Street|"
                 "Park Lane|Maple Drive|George Street").split("|")
_WEST_NAMES = "John Smith|Emma Brown|Oliver Jones|Amelia Wilson|Liam Chen|Sophie Taylor|Noah Wang|Mia Davies".split("|")
_NOTES = ["(放门口)", "（放门口）", "【放快递柜】", "（到了打电话）", "(不要敲门)", "#", "..", " 1", "-A", " 收", "（代收点）"]
_FW = str.maketrans("0123456789", "０１２３４５６７８９")
_CN = "零一二三四五六七八九"

_UA = [  # ordinary clients
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
     "MicroMessenger/8.0.49(0x18003137) NetType/WIFI Language/zh_CN"),
    "ShopApp/11.2.0 (iPhone; iOS 17.4.1; Scale/3.00)", "ShopApp/11.2.0 (Android 14; HUAWEI ALN-AL00)",
    "ShopApp/11.1.3 (Android 13; Xiaomi 23127PN0CC)", "ShopApp/11.2.0 (Android 12; vivo V2309A)",
    ("Mozilla/5.0 (Linux; Android 14; 23127PN0CC Build/UKQ1.230804.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Version/4.0 Chrome/118.0.0.0 Mobile Safari/537.36"),
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
     "Safari/605.1.15"),
    "okhttp/4.9.3"]
_UA_TABLE = _table([18, 18, 10, 10, 6, 13, 10, 4, 1])
_BOT_UA = [  # emulators and automation
    "Dalvik/2.1.0 (Linux; U; Android 9; MuMu Build/PQ3A.190605.003)", "ShopApp/11.0.5 (Android 7.1.2; Netease MuMu)",
    ("Mozilla/5.0 (Linux; Android 9; SM-G9750 Build/PQ3A.190705.003; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Version/4.0 Chrome/91.0.4472.114 Mobile Safari/537.36"),
    "ShopApp/11.0.5 (Android 7.1.2; G011A)", "okhttp/4.9.3",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36"]
_MOBILE = [130, 131, 132, 133, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156, 157, 158, 159,
           166, 176, 177, 178, 180, 181, 182, 183, 185, 186, 187, 188, 189, 191, 198, 199]
_VIRTUAL = [162, 165, 167, 170, 171]  # virtual operators, popular with SMS-receiving services
_RES_A = [27, 36, 39, 42, 49, 58, 59, 60, 61, 101, 106, 110, 111, 112, 113, 114, 115, 116, 117, 118,
          119, 120, 121, 122, 123, 124, 125, 171, 175, 180, 182, 183, 202, 210, 218, 220, 221, 222, 223]
_CLOUD_A = [8, 39, 42, 43, 47, 49, 81, 82, 101, 106, 111, 114, 118, 119, 120, 121, 122, 123, 139, 150]
_CAMPUS_A = [166, 202, 210, 211, 218, 219]
_CGNAT = ["117.136", "223.104", "112.96", "120.229", "111.30"]
_V6 = ["240e:3a1", "240e:471", "2409:8a28", "2409:8954", "2408:8207", "2408:8456"]
_FLASH_LIST = list(FLASH_SKUS)
_HOT_TABLE = _table([8, 5, 4, 3])  # phone, GPU, shoe, watch: how sought after each is
_T = itemgetter(0)


class _Acct:
    """An account with the entities it usually orders with (scenarios may override per order)."""
    __slots__ = ("addr", "created", "device", "id", "ip", "pay", "phone", "ua")

    def __init__(self, account_id, created, ip, device, ua, phone, pay, addr):
        self.id, self.created, self.ip, self.device, self.ua = account_id, created, ip, device, ua
        self.phone, self.pay, self.addr = phone, pay, addr


def _head(ci: int) -> str:
    """Region and city as written at the start of an address (municipalities once)."""
    region, city = _CITIES[ci][:2]
    return region if city == region else region + city


def _cn_obj(ci: int, district: str, street: str, postal: str, recipient: str) -> dict:
    """A mainland address in object form."""
    region, city = _CITIES[ci][:2]
    return {"country": "CN", "region": region, "city": city, "district": district, "street": street,
            "postal_code": postal, "recipient": recipient}


def _cn_num(n: int) -> str:
    """Chinese numeral for 0..9999: 88 -> 八十八, 105 -> 一百零五."""
    if n < 20:
        return _CN[n] if n < 10 else "十" + (_CN[n % 10] if n % 10 else "")
    out, zero = "", False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d = n // value % 10
        if d:
            out += ("零" if zero else "") + _CN[d] + unit
            zero = False
        elif out:
            zero = True
    return out


def _fmt_phone(d: str, style: int) -> str:
    """One of the ways people type a mainland mobile number (style 0..5)."""
    if style == 0:
        return d
    a, b, c = d[:3], d[3:7], d[7:]
    return (f"+86{d}", f"+86 {a} {b} {c}", f"{a}-{b}-{c}", f"0086 {a} {b} {c}", f"{a} {b} {c}")[style - 1]


def _flash(sku: str, q: int, t: int) -> dict:
    """A flash SKU line: the flash price during the sale, the list price otherwise."""
    return {"sku": sku, "quantity": q, "unit_price": FLASH_SKUS[sku] if START <= t < END else LIST_PRICES[sku]}


def _order(t: int, a: _Acct, items: list, scenario: str, label: int) -> dict:
    """One event in contract field order; ``sale_id`` iff a flash SKU is bought in the window."""
    if len(items) == 1 and items[0]["quantity"] == 1:  # the common case needs no rounding
        amount, flash = items[0]["unit_price"], items[0]["sku"] in FLASH_SKUS
    else:
        amount = round(sum(it["quantity"] * it["unit_price"] for it in items), 2)
        flash = any(it["sku"] in FLASH_SKUS for it in items)
    ev = {"order_id": "", "event_time": _ts(t), "account_id": a.id, "account_created_at": a.created,
          "items": items, "amount": amount, "currency": "CNY", "sale_id": SALE_ID, "ip": a.ip,
          "device_id": a.device, "user_agent": a.ua, "phone": a.phone, "payment_fingerprint": a.pay,
          "shipping_address": a.addr, "label": label, "scenario": scenario}
    if a.created is None:
        del ev["account_created_at"]
    if not flash or not START <= t < END:
        del ev["sale_id"]
    return ev


class _Shared:
    """What every scenario draws from: the catalogue, id registries, proxy and pickup pools."""

    def __init__(self, seed: int):
        g = _Gen(seed, "shared", self)
        self.accounts: set[int] = set()
        self.phones: set[int] = set()
        self.skus = [f"SKU-{i:06d}" for i in range(3000)]
        self.prices = [_price(g.r.lognormvariate(4.1, 1.1)) for _ in self.skus]
        self.promos = [(f"PROMO-{i:03d}", g.pick((1.0, 1.9, 2.9, 3.9, 4.9, 5.9, 6.6, 8.8, 9.9, 12.9, 15.9, 19.9)))
                       for i in range(1, 41)]
        self.proxies = [f"{g.pick(_CLOUD_A if i % 2 else _RES_A)}.{g.ri(0, 255)}.{g.ri(0, 255)}" for i in range(600)]
        self.pickups = [g.home(pickup=True) for _ in range(200)]


def _price(x: float) -> float:
    """A shelf price: 59.9 below 100 yuan, whole yuan to 300, 499-style above."""
    x = min(max(x, 2.0), 20000.0)
    return int(x) + .9 if x < 100 else float(int(x) if x < 300 else int(x / 10) * 10 - 1)


class _Gen:
    """Random draws for one scenario: its own RNG plus the shared pools."""

    def __init__(self, seed: int, name: str, shared: _Shared):
        self.r = random.Random(f"riskstream.simulate:{seed}:{name}")
        self.rnd, self.bits, self.s = self.r.random, self.r.getrandbits, shared

    def pick(self, seq):
        return seq[int(self.rnd() * len(seq))]

    def ri(self, lo: int, hi: int) -> int:
        """Uniform integer in [lo, hi]."""
        return lo + int(self.rnd() * (hi - lo + 1))

    # identities ---------------------------------------------------------------------------
    def unique(self, used: set, base: int, span: float) -> int:
        """A number in [base, base + span) not drawn before: ids and phones never collide by chance."""
        while (x := base + int(self.rnd() * span)) in used:
            pass
        used.add(x)
        return x

    def account_id(self) -> str:
        return f"u{self.unique(self.s.accounts, 10**10, 9e10)}"

    def phone(self, virtual: bool = False) -> str:
        """A mobile number (digits only) nobody else in the data has."""
        return str(self.unique(self.s.phones, self.pick(_VIRTUAL if virtual else _MOBILE) * 10**8, 1e8))

    def phone_text(self) -> str:
        """A benign account's phone: one number written one way, mostly plain digits."""
        u = self.rnd()
        return _fmt_phone(self.phone(u < .02), 0 if u < .8 else 1 if u < .92 else 3 if u < .97 else 2)

    def device(self, android: bool = False) -> str:
        if not android and self.rnd() < .35:
            h = f"{self.bits(128):032X}"
            return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        return f"{self.bits(64):016x}"

    def pay(self) -> str:
        return f"{self.bits(96):024x}"

    def ua(self) -> str:
        return _UA[_UA_TABLE[int(self.rnd() * len(_UA_TABLE))]]

    def res_ip(self, v6: float = .12) -> str:
        if self.rnd() < v6:
            b = self.bits(96)
            return (f"{self.pick(_V6)}:{b & 0xFFFF:x}:{b >> 16 & 0xFFFF:x}:{b >> 32 & 0xFFFF:x}:"
                    f"{b >> 48 & 0xFFFF:x}:{b >> 64 & 0xFFFF:x}:{b >> 80:x}")
        b = self.bits(32)
        return f"{_RES_A[(b >> 24) % len(_RES_A)]}.{b & 255}.{b >> 8 & 255}.{(b >> 16 & 255) % 254 + 1}"

    def proxy_ip(self, prefix: str | None = None) -> str:
        return f"{prefix or self.pick(self.s.proxies)}.{self.ri(2, 254)}"

    # times ----------------------------------------------------------------------------------
    def day_time(self, cum: list = _DAY_CUM) -> int:
        """A time on the daily curve; part of the sale hour crowds the opening minutes."""
        rnd = self.rnd
        h = bisect(cum, rnd() * cum[-1])
        if h == 20 and cum is _DAY_CUM and rnd() < .4:
            return min(START + int(self.r.expovariate(1 / 120_000)), END - 1)
        return h * HOUR_MS + int(rnd() * HOUR_MS)

    def burst(self, spread_ms: int, power: float, tail: float, tail_mean_ms: int) -> int:
        """A sale-opening time: most within ``spread_ms`` of 20:00:00, a ``tail`` share over minutes."""
        if self.rnd() < tail:
            return min(START + spread_ms + int(self.r.expovariate(1 / tail_mean_ms)), END - 90_000)
        return START + int(spread_ms * self.rnd() ** power)

    def old(self, t: int, min_days: float = 45) -> str:
        """Creation time of an account months to years old (log-uniform up to ~8 years)."""
        return _ts(t - int(min_days * (3000 / min_days) ** self.rnd() * DAY_MS))

    def created(self, t: int, new: float = .03, today: float = .003) -> str | None:
        """Benign creation time: mostly old, some days old, a few earlier the same day, 2% unknown."""
        u = self.rnd()
        if u < .02:
            return None  # the upstream profile lacks it
        if u < .02 + today:
            return _ts(int(self.rnd() * (t - HOUR_MS)) if t > 2 * HOUR_MS else t - self.ri(HOUR_MS, 10 * HOUR_MS))
        if u < .02 + today + new:
            return _ts(t - int((1 + 13 * self.rnd()) * DAY_MS))
        return self.old(t)

    # addresses ------------------------------------------------------------------------------
    def name(self) -> str:
        return self.pick(_SURNAMES) + self.pick(_GIVEN)

    def home(self, pickup: bool = False) -> tuple:
        """Address parts: (city, district, road, number, estate, building, suffix, unit, room, postal)."""
        ci, b, c = self.pick(_CITY_TABLE), self.bits(30), self.bits(30)  # few draws: homes come by the million
        districts, postal = _CITIES[ci][2:]
        head = ci, districts[(b & 7) % len(districts)], _ROADS[(b >> 3 & 31) % len(_ROADS)], (b >> 8 & 511) % 400 + 1
        if pickup:  # a parcel pickup point: a hub many unrelated people ship to
            return *head, _PICKUP_NAMES[b >> 22 & 3], 0, "", 0, 0, postal + _P3[c >> 20]
        return (*head, _ESTATES[b >> 22 & 15], (c & 31) % 30 + 1, _BSUF[(b >> 17 & 3) % 3], (b >> 19 & 7) % 5,
                ((c >> 5 & 63) % 33 + 1) * 100 + (c >> 11 & 7) % 6 + 1, postal + _P3[c >> 20])

    def render(self, p: tuple, as_object: bool, name: str | None = None) -> str | dict:
        """Address parts as one string or as an address object."""
        ci, district, road, num, estate, bldg, suffix, unit, room, postal = p
        street = f"{road}{num}号{estate}"
        if bldg:
            street += f"{bldg}{suffix}{unit}单元{room}室" if unit else f"{bldg}{suffix}{room}室"
        if as_object:
            return _cn_obj(ci, district, street, postal, name or self.name())
        return _head(ci) + district + street

    def disguise(self, p: tuple, name: str) -> str | dict:
        """The same drop address written another way: digit forms, numerals, notes, string or object."""
        ci, district, road, num, estate, bldg, suffix, unit, room, postal = p
        region, city = _CITIES[ci][:2]
        pick = self.pick
        street = road + pick((f"{num}号", f"{num}号", str(num).translate(_FW) + "号", _cn_num(num) + "号",
                               f"{num} 号")) + estate
        if bldg:
            street += pick((f"{bldg}{suffix}", f"{bldg}栋", _cn_num(bldg) + suffix, str(bldg).translate(_FW) + "幢",
                            f"{bldg}#"))
        if unit:
            street += pick((f"{unit}单元", f"{unit}-", _cn_num(unit) + "单元"))
        if room:
            street += pick((f"{room}室", str(room), str(room).translate(_FW) + "室", f"{room}房", f" {room}"))
        if self.rnd() < .45:
            street += pick(_NOTES)
        if self.rnd() < .35:
            return _cn_obj(ci, district, street, postal, name)
        head = pick((_head(ci), city, region.rstrip("省市") + city.rstrip("市")))
        return head + district + (" " if self.rnd() < .2 else "") + street

    def west(self) -> str | dict:
        city, region, country, codes = self.pick(_WEST)
        street = f"{self.ri(1, 220)} {self.pick(_WEST_STREETS)}" + (f", Apt {self.ri(2, 40)}" * (self.rnd() < .5))
        if self.rnd() < .6:
            return f"{street}, {city}"
        return {"country": country, "region": region, "city": city.split(",")[0], "district": "",
                "street": street, "postal_code": self.pick(codes), "recipient": self.pick(_WEST_NAMES)}

    def address(self) -> str | dict:
        """An ordinary shopper's address: mostly a Chinese home, some pickup points, some abroad."""
        u = self.rnd()
        if u < .04:
            return self.west()
        if u < .08:
            return self.render(self.pick(self.s.pickups), self.rnd() < .3)
        addr = self.render(self.home(), self.rnd() < .3)
        return addr + self.pick(_NOTES[:5]) if isinstance(addr, str) and self.rnd() < .03 else addr

    # items ----------------------------------------------------------------------------------
    def items(self, qmax: int = 2, promo: float = .04) -> list:
        """1-3 catalogue lines, popular SKUs more often, now and then a cheap promo add-on."""
        rnd, s = self.rnd, self.s
        out, seen = [], set()
        for _ in range(1 if rnd() < .6 else self.ri(2, 3)):
            i = int(3000 * rnd() ** 2.2)
            if i not in seen:
                seen.add(i)
                out.append({"sku": s.skus[i], "quantity": 1 if rnd() < .8 else self.ri(2, qmax),
                            "unit_price": s.prices[i]})
        if rnd() < promo:
            out.append(self.promo())
        return out

    def promo(self, q: int = 1) -> dict:
        sku, price = self.pick(self.s.promos)
        return {"sku": sku, "quantity": q, "unit_price": price}

    def hot_sku(self) -> str:
        return _FLASH_LIST[self.pick(_HOT_TABLE)]

    def person(self, t: int, ip: str | None = None, addr=None, created: str | None = "benign") -> _Acct:
        """A benign account with its own device, phone and card."""
        return _Acct(self.account_id(), self.created(t) if created == "benign" else created, ip or self.res_ip(),
                     self.device(), self.ua(), self.phone_text(), self.pay(), self.address() if addr is None else addr)


def _emit(plans: list, build: Callable) -> Iterator[tuple[int, dict]]:
    """Sort a scenario's plans by time and build the events lazily, dropping plans as they go."""
    plans.sort(key=_T, reverse=True)
    pop = plans.pop
    while plans:
        plan = pop()
        yield plan[0], build(*plan)


# ----------------------------------------------------------------------------- scenarios
_NEW_SINCE = _ts(-14 * DAY_MS)  # accounts created after this are new (same offset: text compares)


def _shoppers(g: _Gen, n: int) -> Iterator[tuple[int, dict]]:
    """Ordinary shoppers all day; a few order 2-3 times; some grab one flash unit in the sale."""
    rnd, plans = g.rnd, []
    while len(plans) < n:
        if rnd() > .05:
            plans.append((g.day_time(), None))  # the account is made when the order is built
            continue
        times = sorted(g.day_time() for _ in range(min(g.pick((2, 2, 3)), n - len(plans))))
        a = g.person(times[0], ip=g.res_ip() if rnd() > .01 else g.proxy_ip())
        plans.extend((t, a) for t in times)

    flashed: set[str] = set()  # repeat shoppers respect the per-person limit

    def build(t, a):
        if a is None:
            a = g.person(t, ip=g.proxy_ip() if rnd() < .01 else None)  # ~1% on VPN or cloud IPs
        if (START <= t < END and rnd() < .15 or rnd() < .004) and a.id not in flashed:  # .004: at list price
            items = [_flash(g.hot_sku(), 1, t)]
            flashed.add(a.id)
        elif a.created and a.created >= _NEW_SINCE and rnd() < .25:
            items = [g.promo()]  # new-user welcome deal
        else:
            items = g.items()
        return _order(t, a, items, "shopper", 0)
    yield from _emit(plans, build)


def _fans(g: _Gen, n: int) -> Iterator[tuple[int, dict]]:
    """Real fans in the opening seconds, one unit each; a few retry for another SKU."""
    rnd, plans = g.rnd, []
    while len(plans) < n:
        t, sku = g.burst(5000, 1.7, .25, 200_000), g.hot_sku()
        if rnd() < .05 and n - len(plans) >= 2:
            a = g.person(t, created=g.created(t, new=.05, today=.005))
            other = g.pick([s for s in _FLASH_LIST if s != sku])
            plans += [(t, sku, a), (t + g.ri(2000, 60_000), other, a)]
        else:
            plans.append((t, sku, None))

    def build(t, sku, a):
        a = a or g.person(t, created=g.created(t, new=.05, today=.005))
        return _order(t, a, [_flash(sku, 1, t)], "fan", 0)
    yield from _emit(plans, build)


def _nat(g: _Gen, n: int) -> Iterator[tuple[int, dict]]:
    """Campus networks and carrier NAT: one or two IPs shared by 50-300 unrelated people."""
    rnd, ri, plans = g.rnd, g.ri, []
    while len(plans) < n:
        campus = rnd() < .6
        if campus:
            ci, district, estate, postal = g.pick(_CAMPUSES)
            dorm = f"{estate}{ri(1, 30)}号楼"
            ips = [f"{g.pick(_CAMPUS_A)}.{ri(0, 255)}.{ri(0, 255)}.{ri(1, 254)}" for _ in range(g.pick((1, 1, 2)))]
        else:
            ips = [f"{g.pick(_CGNAT)}.{ri(0, 255)}.{ri(1, 254)}" for _ in range(g.pick((1, 2)))]
        for _ in range(ri(50, 300)):
            if campus:  # up to four roommates share a room
                room = f"{ri(1, 6)}{ri(1, 30):02d}室"
                addr = (f"{_head(ci)}{district}{dorm} {room}" if rnd() < .75 else
                        _cn_obj(ci, district, dorm + room, postal, g.name()))
            else:
                addr = g.address()
            t0 = g.burst(4000, 1.5, .3, 150_000) if rnd() < .35 else g.day_time()
            a = g.person(t0, ip=g.pick(ips), addr=addr, created=g.old(t0, 61))
            plans.append((t0, a, True))
            if rnd() < .1:
                plans.append((g.day_time(), a, False))

    def build(t, a, first):
        items = [_flash(g.hot_sku(), 1, t)] if first and START <= t < END and rnd() < .8 else g.items()
        return _order(t, a, items, "nat", 0)
    yield from _emit(plans[:n], build)


def _campus(g: _Gen, n: int) -> Iterator[tuple[int, dict]]:
    """A dormitory: 100-400 students of one building behind one campus NAT IP, two to four per room.

    Students are established accounts with their own devices, phones and cards; they order
    ordinary things all day, some grab one flash unit at the opening, a few order on mobile data.
    """
    rnd, ri, plans = g.rnd, g.ri, []
    while len(plans) < n:
        ci, district, estate, postal = g.pick(_CAMPUSES)
        dorm = f"{estate}{ri(1, 40)}号楼"
        ip = f"{g.pick(_CAMPUS_A)}.{ri(0, 255)}.{ri(0, 255)}.{ri(1, 254)}"
        for number in g.r.sample(range(1, 200), ri(30, 99)):
            room = f"{number // 30 + 1}{number % 30 + 1:02d}室"
            for _ in range(ri(2, 4)):
                addr = (f"{_head(ci)}{district}{dorm}{room}" if rnd() < .7 else
                        _cn_obj(ci, district, dorm + room, postal, g.name()))
                flash = rnd() < .3
                t0 = g.burst(4000, 1.5, .3, 150_000) if flash else g.day_time()
                a = g.person(t0, ip=ip, addr=addr, created=g.old(t0, 40))
                plans.append((t0, a, flash))
                for _ in range(g.pick((0, 0, 1, 2))):
                    plans.append((g.day_time(), a, False))

    def build(t, a, flash):
        ev = _order(t, a, [_flash(g.hot_sku(), 1, t)] if flash and START <= t < END else g.items(), "campus", 0)
        if rnd() < .2:
            ev["ip"] = g.res_ip(.3)  # on mobile data
        return ev
    yield from _emit(plans[:n], build)


def _families(g: _Gen, n: int) -> Iterator[tuple[int, dict]]:
    """2-4 accounts of one household: same address and home IP, mostly own devices and phones.

    Some households share a card, a tablet or the phone number two accounts were registered with.
    """
    rnd, plans = g.rnd, []
    while len(plans) < n:
        home, ip, as_object = g.home(), g.res_ip(.15), rnd() < .3
        card, tablet, phone = g.pay(), (g.device(), g.ua()), g.phone_text()
        share = (rnd() < .3, rnd() < .15, rnd() < .1)
        for i in range(g.ri(2, 4)):
            flash = rnd() < .35
            t0 = g.burst(5000, 1.7, .3, 200_000) if flash else g.day_time()
            a = g.person(t0, ip=ip, addr=g.render(home, as_object))
            if rnd() < .1:
                a.created = _ts(t0 - g.ri(DAY_MS, 14 * DAY_MS))  # a new account for one more unit
            if i < 2:
                a.pay = card if share[0] else a.pay
                a.device, a.ua = tablet if share[1] else (a.device, a.ua)
                a.phone = phone if share[2] else a.phone
            plans.append((t0, a, flash))
            if rnd() < .2:
                plans.append((g.day_time(), a, False))

    def build(t, a, flash):
        ev = _order(t, a, [_flash(g.hot_sku(), 1, t)] if flash else g.items(), "family", 0)
        if rnd() < .15:
            ev["ip"] = g.res_ip(.3)  # on mobile data instead of the home broadband
        return ev
    yield from _emit(plans[:n], build)


def _offices(g: _Gen, n: int) -> Iterator[tuple[int, dict]]:
    """10-40 colleagues behind one office IP shipping to the office, plus one bulk buyer."""
    rnd, ri, plans = g.rnd, g.ri, []
    while len(plans) < n:
        ci, district, building, postal = g.pick(_OFFICES)
        street = f"{building}{g.pick('ABCD')}座{ri(3, 40)}层"
        text = _head(ci) + district + street
        ip = f"{g.pick(_RES_A)}.{ri(0, 255)}.{ri(0, 255)}.{ri(1, 254)}"
        for _ in range(ri(10, 40)):
            t0 = g.day_time(_OFFICE_CUM)
            addr = text if rnd() < .65 else _cn_obj(ci, district, street, postal, g.name())
            a = g.person(t0, ip=ip, addr=addr, created=g.old(t0, 90))
            plans.append((t0, a, "items"))
            if rnd() < .1:
                plans.append((g.burst(5000, 1.7, .4, 200_000), a, "flash"))
        buyer = g.person(0, ip=ip, addr=text, created=g.old(0, 180))
        plans += [(g.day_time(_OFFICE_CUM), buyer, "bulk") for _ in range(ri(1, 2))]

    def build(t, a, kind):
        if kind == "flash":
            items = [_flash(g.hot_sku(), 1, t)]
        elif kind == "bulk":
            items = [dict(it, quantity=g.ri(10, 50)) for it in g.items(promo=0)[:2]]
        else:
            items = g.items()
        return _order(t, a, items, "office", 0)
    yield from _emit(plans[:n], build)


def _rings(g: _Gen, n: int) -> Iterator[tuple[int, dict]]:
    """Scalper rings: 8-60 fresh accounts run by one operator, firing at the opening seconds.

    The accounts look separate but the operator's resources leak through: a few /24 proxy
    prefixes, a few emulator devices, a few phones typed in many formats, 1-3 cards and 1-3
    drop addresses written with variations.
    """
    rnd, ri, plans = g.rnd, g.ri, []
    while len(plans) < n:
        size = ri(8, 60)
        prefixes = g.r.sample(g.s.proxies, ri(1, 3))
        devices = [(g.device(android=True), g.pick(_BOT_UA) if rnd() < .8 else g.ua())
                   for _ in range(max(2, size // ri(3, 8)))]
        phones = [g.phone() for _ in range(ri(2, max(2, min(6, size // 6))))]
        cards = [g.pay() for _ in range(ri(1, 3))]
        drops = [g.pick(g.s.pickups) if rnd() < .15 else g.home() for _ in range(ri(1, 3))]
        names = [g.name() for _ in range(ri(3, 10))]
        targets = g.r.sample(_FLASH_LIST[:2] if rnd() < .7 else _FLASH_LIST, g.pick((1, 1, 2)))
        ring = (prefixes, names)
        for _ in range(size):
            ahead = ri(2, 40) * MIN_MS if rnd() < .05 else int((1 + 71 * rnd()) * HOUR_MS)
            device, ua = (g.device(), g.ua()) if rnd() < .1 else g.pick(devices)
            ip = g.res_ip() if rnd() < .15 else None  # None: a proxy IP per order
            a = _Acct(g.account_id(), _ts(START - ahead), ip, device, ua, g.pick(phones), g.pick(cards), g.pick(drops))
            skus = targets if len(targets) == 1 or rnd() < .6 else [g.pick(targets)]
            plans.append((START + int(3000 * rnd() ** 1.8), a, skus, ring))
            for _ in range(g.pick((0, 0, 0, 1, 1, 2))):  # retries over the next minutes
                plans.append((START + ri(4000, 600_000), a, skus, ring))

    def build(t, a, skus, ring):
        ev = _order(t, a, [_flash(s, 1 if rnd() < .85 else ri(2, 5), t) for s in skus], "ring", 1)
        ev["ip"] = a.ip or g.proxy_ip(g.pick(ring[0]))
        ev["phone"] = _fmt_phone(a.phone, ri(0, 5))
        ev["shipping_address"] = g.disguise(a.addr, g.pick(ring[1]))
        return ev
    yield from _emit(plans[:n], build)


def _resellers(g: _Gen, n: int) -> Iterator[tuple[int, dict]]:
    """Lone resellers: one account buying a flash SKU again and again over the limit, and in bulk."""
    rnd, ri, plans = g.rnd, g.ri, []
    while len(plans) < n:
        created = g.old(START, 60) if rnd() < .7 else _ts(START - ri(3 * DAY_MS, 30 * DAY_MS))
        a = g.person(START, ip=g.proxy_ip() if rnd() < .4 else g.res_ip(.05), created=created)
        if rnd() < .3:
            a.ua = g.pick(_BOT_UA)
        sku, t = g.hot_sku(), START + ri(0, 3000)
        for _ in range(ri(3, 6)):
            plans.append((t, a, sku, "flash"))
            t = min(t + ri(20_000, 300_000), END - 1)
        for _ in range(ri(1, 3)):
            while START - MIN_MS <= (t := g.day_time()) < END + MIN_MS:
                pass
            plans.append((t, a, sku, "bulk"))

    def build(t, a, sku, kind):
        if kind == "flash":
            items = [_flash(sku, ri(2, 5) if rnd() < .8 else 1, t)]
            if rnd() < .2 and (other := g.hot_sku()) != sku:
                items.append(_flash(other, ri(1, 3), t))
        elif rnd() < .6:
            items = [_flash(sku, ri(3, 10), t)]  # same SKU at list price
        else:
            items = [dict(it, quantity=ri(5, 20)) for it in g.items(promo=0)[:1]]
        return _order(t, a, items, "reseller", 1)
    yield from _emit(plans[:n], build)


def _bonus_hunters(g: _Gen, n: int) -> Iterator[tuple[int, dict]]:
    """Coupon farms (羊毛党): many brand-new accounts, one cheap promo order each, few devices."""
    rnd, ri, plans = g.rnd, g.ri, []
    while len(plans) < n:
        devices = [(g.device(android=True), g.pick(_BOT_UA) if rnd() < .5 else g.ua()) for _ in range(ri(2, 8))]
        prefixes = g.r.sample(g.s.proxies, ri(1, 3))
        drops, names = [g.home() for _ in range(ri(2, 5))], [g.name() for _ in range(ri(3, 8))]
        cards = [g.pay() for _ in range(ri(1, 4))]
        windows = [(ri(0, DAY_MS - 2 * HOUR_MS), ri(20, 120) * MIN_MS) for _ in range(ri(1, 3))]
        for _ in range(ri(20, 150)):
            w0, span = g.pick(windows)
            t = w0 + int(rnd() * span)
            a = _Acct(g.account_id(), _ts(t - ri(3 * MIN_MS, 8 * HOUR_MS)), f"{g.pick(prefixes)}.{ri(2, 254)}",
                      *g.pick(devices), g.phone(virtual=rnd() < .7), g.pick(cards), g.pick(drops))
            plans.append((t, a, names))

    def build(t, a, names):
        ev = _order(t, a, [g.promo(1 if rnd() < .8 else 2)], "bonus_hunter", 1)
        ev["shipping_address"] = g.disguise(a.addr, g.pick(names)) if rnd() < .6 else g.render(a.addr, False)
        return ev
    yield from _emit(plans[:n], build)


#: scenario -> (label, share of the orders, generator)
SCENARIOS: dict[str, tuple[int, float, Callable]] = {
    "shopper": (0, .69, _shoppers), "fan": (0, .10, _fans), "nat": (0, .04, _nat), "campus": (0, .02, _campus),
    "family": (0, .02, _families), "office": (0, .02, _offices), "ring": (1, .08, _rings),
    "reseller": (1, .01, _resellers), "bonus_hunter": (1, .02, _bonus_hunters),
}


def scenario_counts(orders: int) -> dict[str, int]:
    """How many of ``orders`` each scenario produces (largest-remainder rounding of the shares)."""
    raw = {k: orders * v[1] for k, v in SCENARIOS.items()}
    counts = {k: int(x) for k, x in raw.items()}
    for k in sorted(raw, key=lambda k: counts[k] - raw[k])[: orders - sum(counts.values())]:
        counts[k] += 1
    return counts


def simulate(orders: int, seed: int = 0) -> Iterator[dict]:
    """Exactly ``orders`` labelled order events of 2026-11-11, in non-decreasing event-time order."""
    if orders < 0:
        raise ValueError("orders must be >= 0")
    shared = _Shared(seed)
    streams = [SCENARIOS[name][2](_Gen(seed, name, shared), count)
               for name, count in scenario_counts(orders).items() if count]
    for i, (_, ev) in enumerate(heapq.merge(*streams, key=_T), 1):
        ev["order_id"] = f"o-{i:09d}"
        yield ev


CHUNK = 10_000  #: lines per write, and how often ``progress`` hears of them


def write_jsonl(path: str | os.PathLike | None, orders: int, seed: int = 0,
                progress: Callable[[int], None] | None = None) -> int:
    """Write ``simulate(orders, seed)`` as JSONL to ``path`` (None or "-": stdout); return the count."""
    to_stdout = path is None or os.fspath(path) == "-"
    dumps, opt, buf, n = orjson.dumps, orjson.OPT_APPEND_NEWLINE, [], 0
    with nullcontext(sys.stdout.buffer) if to_stdout else open(path, "wb") as out:
        for ev in simulate(orders, seed):
            buf.append(dumps(ev, option=opt))
            n += 1
            if len(buf) == CHUNK:
                out.write(b"".join(buf))
                buf.clear()
                if progress:
                    progress(n)
        out.write(b"".join(buf))
        out.flush()
        if progress and n % CHUNK:
            progress(n)
    return n
