"""The simulated world: the sale, the catalogue, cities and addresses, devices, networks and accounts.

Shared by the scenario generators (:mod:`.shoppers`, :mod:`.attacks`) and the
output (:mod:`.output`); every random draw goes through a scenario's
:class:`Gen`.  The whole simulator, in short:

Deterministic flash-sale traffic simulator with ground-truth labels.

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

import random
from bisect import bisect
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from itertools import accumulate
from operator import itemgetter

from . import disguises
from .knobs import Knobs

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


def timestamp(ms: int) -> str:
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
OFFICE_CURVE = list(accumulate([0] * 8 + [.5, 3, 4, 4, 6, 5, 4, 4, 4, 3, 1.5, .5, 0, 0, 0, 0]))

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
CAMPUSES = [  # city index, district, campus and dorm estate, postal code
    (0, "海淀区", "双清路30号清华大学紫荆公寓", "100084"), (8, "武昌区", "八一路299号武汉大学枫园", "430072"),
    (4, "西湖区", "余杭塘路866号浙江大学紫金港校区蓝田", "310058"),
    (7, "双流区", "川大路二段2号四川大学江安校区西园", "610207"),
    (2, "番禺区", "外环东路132号中山大学东校区至善园", "510006"),
    (9, "碑林区", "咸宁西路28号西安交通大学兴庆校区东", "710049"),
    (1, "杨浦区", "邯郸路220号复旦大学本部南区", "200433"), (5, "江宁区", "佛城西路8号河海大学江宁校区", "211100")]
OFFICES = [  # city index, district, office building, postal code
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
BOT_UAS = [  # emulators and automation
    "Dalvik/2.1.0 (Linux; U; Android 9; MuMu Build/PQ3A.190605.003)", "ShopApp/11.0.5 (Android 7.1.2; Netease MuMu)",
    ("Mozilla/5.0 (Linux; Android 9; SM-G9750 Build/PQ3A.190705.003; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Version/4.0 Chrome/91.0.4472.114 Mobile Safari/537.36"),
    "ShopApp/11.0.5 (Android 7.1.2; G011A)", "okhttp/4.9.3",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36"]
_MOBILE = [130, 131, 132, 133, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156, 157, 158, 159,
           166, 176, 177, 178, 180, 181, 182, 183, 185, 186, 187, 188, 189, 191, 198, 199]
_VIRTUAL = [162, 165, 167, 170, 171]  # virtual operators, popular with SMS-receiving services
RES_A = [27, 36, 39, 42, 49, 58, 59, 60, 61, 101, 106, 110, 111, 112, 113, 114, 115, 116, 117, 118,
          119, 120, 121, 122, 123, 124, 125, 171, 175, 180, 182, 183, 202, 210, 218, 220, 221, 222, 223]
_CLOUD_A = [8, 39, 42, 43, 47, 49, 81, 82, 101, 106, 111, 114, 118, 119, 120, 121, 122, 123, 139, 150]
CAMPUS_A = [166, 202, 210, 211, 218, 219]
CGNAT = ["117.136", "223.104", "112.96", "120.229", "111.30"]
_V6 = ["240e:3a1", "240e:471", "2409:8a28", "2409:8954", "2408:8207", "2408:8456"]
FLASH_LIST = list(FLASH_SKUS)
_HOT_TABLE = _table([8, 5, 4, 3])  # phone, GPU, shoe, watch: how sought after each is
by_time = itemgetter(0)


class Account:
    """An account with the entities it usually orders with (scenarios may override per order)."""
    __slots__ = ("addr", "created", "device", "id", "ip", "pay", "phone", "ua")

    def __init__(self, account_id, created, ip, device, ua, phone, pay, addr):
        self.id, self.created, self.ip, self.device, self.ua = account_id, created, ip, device, ua
        self.phone, self.pay, self.addr = phone, pay, addr


def city_head(ci: int) -> str:
    """Region and city as written at the start of an address (municipalities once)."""
    region, city = _CITIES[ci][:2]
    return region if city == region else region + city


def cn_address(ci: int, district: str, street: str, postal: str, recipient: str) -> dict:
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


def format_phone(d: str, style: int) -> str:
    """One of the ways people type a mainland mobile number (style 0..5)."""
    if style == 0:
        return d
    a, b, c = d[:3], d[3:7], d[7:]
    return (f"+86{d}", f"+86 {a} {b} {c}", f"{a}-{b}-{c}", f"0086 {a} {b} {c}", f"{a} {b} {c}")[style - 1]


def flash_line(sku: str, q: int, t: int) -> dict:
    """A flash SKU line: the flash price during the sale, the list price otherwise."""
    return {"sku": sku, "quantity": q, "unit_price": FLASH_SKUS[sku] if START <= t < END else LIST_PRICES[sku]}


def order_event(t: int, a: Account, items: list, scenario: str, label: int) -> dict:
    """One event in contract field order; ``sale_id`` iff a flash SKU is bought in the window."""
    if len(items) == 1 and items[0]["quantity"] == 1:  # the common case needs no rounding
        amount, flash = items[0]["unit_price"], items[0]["sku"] in FLASH_SKUS
    else:
        amount = round(sum(it["quantity"] * it["unit_price"] for it in items), 2)
        flash = any(it["sku"] in FLASH_SKUS for it in items)
    ev = {"order_id": "", "event_time": timestamp(t), "account_id": a.id, "account_created_at": a.created,
          "items": items, "amount": amount, "currency": "CNY", "sale_id": SALE_ID, "ip": a.ip,
          "device_id": a.device, "user_agent": a.ua, "phone": a.phone, "payment_fingerprint": a.pay,
          "shipping_address": a.addr, "label": label, "scenario": scenario}
    if a.created is None:
        del ev["account_created_at"]
    if not flash or not START <= t < END:
        del ev["sale_id"]
    return ev


class Shared:
    """What every scenario draws from: the catalogue, id registries, proxy and pickup pools."""

    def __init__(self, seed: int):
        g = Gen(seed, "shared", self)
        self.accounts: set[int] = set()
        self.phones: set[int] = set()
        self.skus = [f"SKU-{i:06d}" for i in range(3000)]
        self.prices = [_price(g.r.lognormvariate(4.1, 1.1)) for _ in self.skus]
        self.promos = [(f"PROMO-{i:03d}", g.pick((1.0, 1.9, 2.9, 3.9, 4.9, 5.9, 6.6, 8.8, 9.9, 12.9, 15.9, 19.9)))
                       for i in range(1, 41)]
        self.proxies = [f"{g.pick(_CLOUD_A if i % 2 else RES_A)}.{g.ri(0, 255)}.{g.ri(0, 255)}" for i in range(600)]
        self.pickups = [g.home(pickup=True) for _ in range(200)]
        self.knobs = Knobs.draw(seed)


def _price(x: float) -> float:
    """A shelf price: 59.9 below 100 yuan, whole yuan to 300, 499-style above."""
    x = min(max(x, 2.0), 20000.0)
    return int(x) + .9 if x < 100 else float(int(x) if x < 300 else int(x / 10) * 10 - 1)


class Gen:
    """Random draws for one scenario: its own RNG plus the shared pools."""

    def __init__(self, seed: int, name: str, shared: Shared):
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
        return format_phone(self.phone(u < .02), 0 if u < .8 else 1 if u < .92 else 3 if u < .97 else 2)

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
        return f"{RES_A[(b >> 24) % len(RES_A)]}.{b & 255}.{b >> 8 & 255}.{(b >> 16 & 255) % 254 + 1}"

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
        return timestamp(t - int(min_days * (3000 / min_days) ** self.rnd() * DAY_MS))

    def created(self, t: int, new: float = .03, today: float = .003) -> str | None:
        """Benign creation time: mostly old, some days old, a few earlier the same day, 2% unknown."""
        u = self.rnd()
        if u < .02:
            return None  # the upstream profile lacks it
        if u < .02 + today:
            return timestamp(int(self.rnd() * (t - HOUR_MS)) if t > 2 * HOUR_MS else t - self.ri(HOUR_MS, 10 * HOUR_MS))
        if u < .02 + today + new:
            return timestamp(t - int((1 + 13 * self.rnd()) * DAY_MS))
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
            return cn_address(ci, district, street, postal, name or self.name())
        return city_head(ci) + district + street

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
            return cn_address(ci, district, street, postal, name)
        head = pick((city_head(ci), city, region.rstrip("省市") + city.rstrip("市")))
        return head + district + (" " if self.rnd() < .2 else "") + street

    def disguise_more(self, p: tuple, name: str) -> str | dict:
        """:meth:`disguise` plus the run's typos, pinyin, junk and compact units (:mod:`.disguises`)."""
        k, r = self.s.knobs, self.r
        ci, district, road, num, estate, bldg, suffix, unit, room, postal = p
        rnd = r.random
        if not bldg or rnd() < .4:  # the usual variations only
            out = self.disguise(p, name)
            return disguises.junk(out, r) if isinstance(out, str) and rnd() < k.junk else out
        road_text = disguises.pinyin_road(road) if rnd() < k.pinyin else disguises.typo(road, r) if rnd() < k.typo else road
        number = self.pick((f"{num}号", str(num).translate(_FW) + "号", _cn_num(num) + "号"))
        estate_text = disguises.typo(estate, r) if estate and rnd() < k.typo else estate
        if rnd() < k.compact:
            tail = disguises.compact_unit(bldg, unit, room)
        else:
            tail = f"{bldg}{suffix}" + (f"{unit}单元" if unit else "") + f"{room}室"
        street = road_text + number + estate_text + tail
        if rnd() < k.junk:
            street = disguises.junk(street, r)
        if rnd() < .3:
            return cn_address(ci, district, street, postal, name)
        return self.pick((city_head(ci), _CITIES[ci][1])) + district + street

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
        return FLASH_LIST[self.pick(_HOT_TABLE)]

    def person(self, t: int, ip: str | None = None, addr=None, created: str | None = "benign") -> Account:
        """A benign account with its own device, phone and card."""
        return Account(self.account_id(), self.created(t) if created == "benign" else created, ip or self.res_ip(),
                     self.device(), self.ua(), self.phone_text(), self.pay(), self.address() if addr is None else addr)


def emit(plans: list, build: Callable) -> Iterator[tuple[int, dict]]:
    """Sort a scenario's plans by time and build the events lazily, dropping plans as they go."""
    plans.sort(key=by_time, reverse=True)
    pop = plans.pop
    while plans:
        plan = pop()
        yield plan[0], build(*plan)
