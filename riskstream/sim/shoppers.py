"""Benign scenarios: ordinary shoppers, fans, and crowds that look suspicious but are not
(carrier NAT, campus networks and dormitories, families, offices)."""

from __future__ import annotations

from collections.abc import Iterator

from .world import (
    CAMPUS_A,
    CAMPUSES,
    CGNAT,
    DAY_MS,
    END,
    FLASH_LIST,
    OFFICE_CURVE,
    OFFICES,
    RES_A,
    START,
    Gen,
    city_head,
    cn_address,
    emit,
    flash_line,
    order_event,
    timestamp,
)

_NEW_SINCE = timestamp(-14 * DAY_MS)  # accounts created after this are new (same offset: text compares)


def shoppers(g: Gen, n: int) -> Iterator[tuple[int, dict]]:
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
            items = [flash_line(g.hot_sku(), 1, t)]
            flashed.add(a.id)
        elif a.created and a.created >= _NEW_SINCE and rnd() < .25:
            items = [g.promo()]  # new-user welcome deal
        else:
            items = g.items()
        return order_event(t, a, items, "shopper", 0)
    yield from emit(plans, build)


def fans(g: Gen, n: int) -> Iterator[tuple[int, dict]]:
    """Real fans in the opening seconds, one unit each; a few retry for another SKU."""
    rnd, plans = g.rnd, []
    while len(plans) < n:
        t, sku = g.burst(5000, 1.7, .25, 200_000), g.hot_sku()
        if rnd() < .05 and n - len(plans) >= 2:
            a = g.person(t, created=g.created(t, new=.05, today=.005))
            other = g.pick([s for s in FLASH_LIST if s != sku])
            plans += [(t, sku, a), (t + g.ri(2000, 60_000), other, a)]
        else:
            plans.append((t, sku, None))

    def build(t, sku, a):
        a = a or g.person(t, created=g.created(t, new=.05, today=.005))
        return order_event(t, a, [flash_line(sku, 1, t)], "fan", 0)
    yield from emit(plans, build)


def nat(g: Gen, n: int) -> Iterator[tuple[int, dict]]:
    """Campus networks and carrier NAT: one or two IPs shared by 50-300 unrelated people."""
    rnd, ri, plans = g.rnd, g.ri, []
    while len(plans) < n:
        campus = rnd() < .6
        if campus:
            ci, district, estate, postal = g.pick(CAMPUSES)
            dorm = f"{estate}{ri(1, 30)}号楼"
            ips = [f"{g.pick(CAMPUS_A)}.{ri(0, 255)}.{ri(0, 255)}.{ri(1, 254)}" for _ in range(g.pick((1, 1, 2)))]
        else:
            ips = [f"{g.pick(CGNAT)}.{ri(0, 255)}.{ri(1, 254)}" for _ in range(g.pick((1, 2)))]
        for _ in range(ri(50, 300)):
            if campus:  # up to four roommates share a room
                room = f"{ri(1, 6)}{ri(1, 30):02d}室"
                addr = (f"{city_head(ci)}{district}{dorm} {room}" if rnd() < .75 else
                        cn_address(ci, district, dorm + room, postal, g.name()))
            else:
                addr = g.address()
            t0 = g.burst(4000, 1.5, .3, 150_000) if rnd() < .35 else g.day_time()
            a = g.person(t0, ip=g.pick(ips), addr=addr, created=g.old(t0, 61))
            plans.append((t0, a, True))
            if rnd() < .1:
                plans.append((g.day_time(), a, False))

    def build(t, a, first):
        items = [flash_line(g.hot_sku(), 1, t)] if first and START <= t < END and rnd() < .8 else g.items()
        return order_event(t, a, items, "nat", 0)
    yield from emit(plans[:n], build)


def campus(g: Gen, n: int) -> Iterator[tuple[int, dict]]:
    """A dormitory: 100-400 students of one building behind one campus NAT IP, two to four per room.

    Students are established accounts with their own devices, phones and cards; they order
    ordinary things all day, some grab one flash unit at the opening, a few order on mobile data.
    """
    rnd, ri, plans = g.rnd, g.ri, []
    while len(plans) < n:
        ci, district, estate, postal = g.pick(CAMPUSES)
        dorm = f"{estate}{ri(1, 40)}号楼"
        ip = f"{g.pick(CAMPUS_A)}.{ri(0, 255)}.{ri(0, 255)}.{ri(1, 254)}"
        for number in g.r.sample(range(1, 200), ri(30, 99)):
            room = f"{number // 30 + 1}{number % 30 + 1:02d}室"
            for _ in range(ri(2, 4)):
                addr = (f"{city_head(ci)}{district}{dorm}{room}" if rnd() < .7 else
                        cn_address(ci, district, dorm + room, postal, g.name()))
                flash = rnd() < .3
                t0 = g.burst(4000, 1.5, .3, 150_000) if flash else g.day_time()
                a = g.person(t0, ip=ip, addr=addr, created=g.old(t0, 40))
                plans.append((t0, a, flash))
                for _ in range(g.pick((0, 0, 1, 2))):
                    plans.append((g.day_time(), a, False))

    def build(t, a, flash):
        ev = order_event(t, a, [flash_line(g.hot_sku(), 1, t)] if flash and START <= t < END else g.items(), "campus", 0)
        if rnd() < .2:
            ev["ip"] = g.res_ip(.3)  # on mobile data
        return ev
    yield from emit(plans[:n], build)


def families(g: Gen, n: int) -> Iterator[tuple[int, dict]]:
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
                a.created = timestamp(t0 - g.ri(DAY_MS, 14 * DAY_MS))  # a new account for one more unit
            if i < 2:
                a.pay = card if share[0] else a.pay
                a.device, a.ua = tablet if share[1] else (a.device, a.ua)
                a.phone = phone if share[2] else a.phone
            plans.append((t0, a, flash))
            if rnd() < .2:
                plans.append((g.day_time(), a, False))

    def build(t, a, flash):
        ev = order_event(t, a, [flash_line(g.hot_sku(), 1, t)] if flash else g.items(), "family", 0)
        if rnd() < .15:
            ev["ip"] = g.res_ip(.3)  # on mobile data instead of the home broadband
        return ev
    yield from emit(plans[:n], build)


def offices(g: Gen, n: int) -> Iterator[tuple[int, dict]]:
    """10-40 colleagues behind one office IP shipping to the office, plus one bulk buyer."""
    rnd, ri, plans = g.rnd, g.ri, []
    while len(plans) < n:
        ci, district, building, postal = g.pick(OFFICES)
        street = f"{building}{g.pick('ABCD')}座{ri(3, 40)}层"
        text = city_head(ci) + district + street
        ip = f"{g.pick(RES_A)}.{ri(0, 255)}.{ri(0, 255)}.{ri(1, 254)}"
        for _ in range(ri(10, 40)):
            t0 = g.day_time(OFFICE_CURVE)
            addr = text if rnd() < .65 else cn_address(ci, district, street, postal, g.name())
            a = g.person(t0, ip=ip, addr=addr, created=g.old(t0, 90))
            plans.append((t0, a, "items"))
            if rnd() < .1:
                plans.append((g.burst(5000, 1.7, .4, 200_000), a, "flash"))
        buyer = g.person(0, ip=ip, addr=text, created=g.old(0, 180))
        plans += [(g.day_time(OFFICE_CURVE), buyer, "bulk") for _ in range(ri(1, 2))]

    def build(t, a, kind):
        if kind == "flash":
            items = [flash_line(g.hot_sku(), 1, t)]
        elif kind == "bulk":
            items = [dict(it, quantity=g.ri(10, 50)) for it in g.items(promo=0)[:2]]
        else:
            items = g.items()
        return order_event(t, a, items, "office", 0)
    yield from emit(plans[:n], build)


def repeat_buyers(g: Gen, n: int) -> Iterator[tuple[int, dict]]:
    """Loyal customers ordering 2-5 times a day to their one address, one flash unit at most.

    Established accounts, each with its own devices (a phone and sometimes a
    laptop), some on mobile data part of the day: busy, but one person.
    """
    rnd, ri, plans = g.rnd, g.ri, []
    while len(plans) < n:
        t0 = g.day_time()
        a = g.person(t0, created=g.old(t0, 120))
        laptop = (g.device(), g.ua())
        flash_at = ri(0, 4) if rnd() < .4 else -1
        for i in range(min(ri(2, 5), n - len(plans))):
            t = g.burst(5000, 1.7, .4, 200_000) if i == flash_at else g.day_time()
            plans.append((t, a, i == flash_at, laptop))

    def build(t, a, flash, laptop):
        items = [flash_line(g.hot_sku(), 1, t)] if flash and START <= t < END else g.items()
        ev = order_event(t, a, items, "repeat_buyer", 0)
        if rnd() < .3:
            ev["device_id"], ev["user_agent"] = laptop
        if rnd() < .25:
            ev["ip"] = g.res_ip(.3)
        return ev
    yield from emit(plans[:n], build)
