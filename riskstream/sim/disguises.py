"""More ways to write one drop address: typos, pinyin for hanzi, compact unit notation, junk, Western abbreviations.

:meth:`~riskstream.sim.world.Gen.disguise` already varies digit forms,
numerals and notes; :meth:`~riskstream.sim.world.Gen.disguise_more` adds
these, for the aged-account rings, SIM farms and multi-account resellers
(:mod:`.farms`), each with the run's probabilities (:class:`~riskstream.sim.knobs.Knobs`).
"""

from __future__ import annotations

import random

# Road names of the simulated cities in pinyin, as written by buyers who type without an IME.
PINYIN = {
    "中关村大街": "zhongguancun dajie", "人民路": "renmin lu", "解放路": "jiefang lu", "中山路": "zhongshan lu",
    "建设路": "jianshe lu", "长江路": "changjiang lu", "学府路": "xuefu lu", "科技园路": "kejiyuan lu",
    "滨江大道": "binjiang dadao", "文三路": "wensan lu", "天府大道": "tianfu dadao", "南京西路": "nanjing xilu",
    "深南大道": "shennan dadao", "东风路": "dongfeng lu", "和平路": "heping lu", "新华路": "xinhua lu",
    "建国路": "jianguo lu", "青年路": "qingnian lu", "花园路": "huayuan lu", "黄河路": "huanghe lu",
    "五一路": "wuyi lu", "朝阳路": "chaoyang lu", "光明路": "guangming lu", "幸福大街": "xingfu dajie",
    "金沙路": "jinsha lu", "迎宾路": "yingbin lu", "胜利路": "shengli lu", "友谊路": "youyi lu",
    "团结路": "tuanjie lu", "文化路": "wenhua lu",
}
# Characters typed wrongly for one another (same pinyin, or one stroke apart).
_TYPOS = {"路": "露", "街": "接", "道": "到", "花": "华", "园": "圆", "苑": "院", "城": "成", "新": "心",
          "村": "材", "山": "三", "民": "明", "和": "合", "华": "化", "庭": "廷", "家": "佳", "湾": "弯",
          "里": "理", "明": "名", "光": "广", "文": "闻", "金": "今", "阳": "杨", "江": "将", "建": "健"}
_JUNK = ["·", "..", "~", "。", " ", "-", "*", "号号", "（）"]
# Western street words and their abbreviations, both ways.
_WEST_ABBREV = [("Street", "St."), ("Road", "Rd"), ("Avenue", "Ave"), ("Drive", "Dr."), ("Lane", "Ln"),
                ("Apt", "Apartment"), ("Apt", "#"), ("Queen's", "Queens"), ("Park", "Pk")]


def typo(text: str, r: random.Random) -> str:
    """One character of the name typed as a look-alike (if any has one)."""
    spots = [i for i, ch in enumerate(text) if ch in _TYPOS]
    if not spots:
        return text
    i = spots[int(r.random() * len(spots))]
    return text[:i] + _TYPOS[text[i]] + text[i + 1:]


def pinyin_road(road: str) -> str:
    """The road's name in pinyin, with a space on either side."""
    return f" {PINYIN.get(road, road)} "


def junk(text: str, r: random.Random) -> str:
    """A stray character or two inside the text, away from the digits."""
    spots = [i for i in range(1, len(text)) if not text[i - 1].isdigit() and not text[i].isdigit()]
    if not spots:
        return text
    i = spots[int(r.random() * len(spots))]
    return text[:i] + _JUNK[int(r.random() * len(_JUNK))] + text[i:]


def compact_unit(building: int, unit: int, room: int) -> str:
    """Building, entrance and room the way couriers shorten them: 5-2-1102."""
    return f"{building}-{unit}-{room}" if unit else f"{building}-{room}"


def west_variant(text: str, r: random.Random) -> str:
    """A Western street line with words abbreviated or spelt out, and the case changed now and then."""
    for long, short in _WEST_ABBREV:
        if long in text and r.random() < .7:
            text = text.replace(long, short)
        elif short in text and r.random() < .3:
            text = text.replace(short, long)
    return text.upper() if r.random() < .15 else text.lower() if r.random() < .15 else text

