"""Abusive scenarios: scalper rings, lone resellers and coupon farms (羊毛党)."""

from __future__ import annotations

from collections.abc import Iterator

from .world import (
    BOT_UAS,
    DAY_MS,
    END,
    FLASH_LIST,
    HOUR_MS,
    MIN_MS,
    START,
    Account,
    Gen,
    emit,
    flash_line,
    format_phone,
    order_event,
    timestamp,
)


def rings(g: Gen, n: int) -> Iterator[tuple[int, dict]]:
    """Scalper rings: 8-60 fresh accounts run by one operator, firing at the opening seconds.

    The accounts look separate but the operator's resources leak through: a few /24 proxy
    prefixes, a few emulator devices, a few phones typed in many formats, 1-3 cards and 1-3
    drop addresses written with variations.
    """
    rnd, ri, plans = g.rnd, g.ri, []
    while len(plans) < n:
        size = ri(8, 60)
        prefixes = g.r.sample(g.s.proxies, ri(1, 3))
        devices = [(g.device(android=True), g.pick(BOT_UAS) if rnd() < .8 else g.ua())
                   for _ in range(max(2, size // ri(3, 8)))]
        phones = [g.phone() for _ in range(ri(2, max(2, min(6, size // 6))))]
        cards = [g.pay() for _ in range(ri(1, 3))]
        drops = [g.pick(g.s.pickups) if rnd() < .15 else g.home() for _ in range(ri(1, 3))]
        names = [g.name() for _ in range(ri(3, 10))]
        targets = g.r.sample(FLASH_LIST[:2] if rnd() < .7 else FLASH_LIST, g.pick((1, 1, 2)))
        ring = (prefixes, names)
        for _ in range(size):
            ahead = ri(2, 40) * MIN_MS if rnd() < .05 else int((1 + 71 * rnd()) * HOUR_MS)
            device, ua = (g.device(), g.ua()) if rnd() < .1 else g.pick(devices)
            ip = g.res_ip() if rnd() < .15 else None  # None: a proxy IP per order
            a = Account(g.account_id(), timestamp(START - ahead), ip, device, ua, g.pick(phones), g.pick(cards), g.pick(drops))
            skus = targets if len(targets) == 1 or rnd() < .6 else [g.pick(targets)]
            plans.append((START + int(3000 * rnd() ** 1.8), a, skus, ring))
            for _ in range(g.pick((0, 0, 0, 1, 1, 2))):  # retries over the next minutes
                plans.append((START + ri(4000, 600_000), a, skus, ring))

    def build(t, a, skus, ring):
        ev = order_event(t, a, [flash_line(s, 1 if rnd() < .85 else ri(2, 5), t) for s in skus], "ring", 1)
        ev["ip"] = a.ip or g.proxy_ip(g.pick(ring[0]))
        ev["phone"] = format_phone(a.phone, ri(0, 5))
        ev["shipping_address"] = g.disguise(a.addr, g.pick(ring[1]))
        return ev
    yield from emit(plans[:n], build)


def resellers(g: Gen, n: int) -> Iterator[tuple[int, dict]]:
    """Lone resellers: one account buying a flash SKU again and again over the limit, and in bulk."""
    rnd, ri, plans = g.rnd, g.ri, []
    while len(plans) < n:
        created = g.old(START, 60) if rnd() < .7 else timestamp(START - ri(3 * DAY_MS, 30 * DAY_MS))
        a = g.person(START, ip=g.proxy_ip() if rnd() < .4 else g.res_ip(.05), created=created)
        if rnd() < .3:
            a.ua = g.pick(BOT_UAS)
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
            items = [flash_line(sku, ri(2, 5) if rnd() < .8 else 1, t)]
            if rnd() < .2 and (other := g.hot_sku()) != sku:
                items.append(flash_line(other, ri(1, 3), t))
        elif rnd() < .6:
            items = [flash_line(sku, ri(3, 10), t)]  # same SKU at list price
        else:
            items = [dict(it, quantity=ri(5, 20)) for it in g.items(promo=0)[:1]]
        return order_event(t, a, items, "reseller", 1)
    yield from emit(plans[:n], build)


def bonus_hunters(g: Gen, n: int) -> Iterator[tuple[int, dict]]:
    """Coupon farms (羊毛党): many brand-new accounts, one cheap promo order each, few devices."""
    rnd, ri, plans = g.rnd, g.ri, []
    while len(plans) < n:
        devices = [(g.device(android=True), g.pick(BOT_UAS) if rnd() < .5 else g.ua()) for _ in range(ri(2, 8))]
        prefixes = g.r.sample(g.s.proxies, ri(1, 3))
        drops, names = [g.home() for _ in range(ri(2, 5))], [g.name() for _ in range(ri(3, 8))]
        cards = [g.pay() for _ in range(ri(1, 4))]
        windows = [(ri(0, DAY_MS - 2 * HOUR_MS), ri(20, 120) * MIN_MS) for _ in range(ri(1, 3))]
        for _ in range(ri(20, 150)):
            w0, span = g.pick(windows)
            t = w0 + int(rnd() * span)
            a = Account(g.account_id(), timestamp(t - ri(3 * MIN_MS, 8 * HOUR_MS)), f"{g.pick(prefixes)}.{ri(2, 254)}",
                      *g.pick(devices), g.phone(virtual=rnd() < .7), g.pick(cards), g.pick(drops))
            plans.append((t, a, names))

    def build(t, a, names):
        ev = order_event(t, a, [g.promo(1 if rnd() < .8 else 2)], "bonus_hunter", 1)
        ev["shipping_address"] = g.disguise(a.addr, g.pick(names)) if rnd() < .6 else g.render(a.addr, False)
        return ev
    yield from emit(plans[:n], build)
