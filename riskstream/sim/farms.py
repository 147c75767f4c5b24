"""Abuse that does not lean on new accounts: aged-account rings, SIM farms, multi-account resellers.

* **aged rings** - months- or years-old accounts (bought, or farmed long ago),
  firing one flash unit each at
  the opening from one /24 network, all shipping to one drop address written
  many ways; some share a handset or a card.
* **SIM farms** - accounts days or weeks old whose few phone numbers appear
  in every format (+86, spaces, dashes), some on the farm's handsets, shipping
  to a few drops.
* **multi-account resellers** - one person with a few accounts of any age,
  home network, phone and card, buying the flash SKU once per account.

Sizes, shares and disguise rates come from the run's :class:`~riskstream.sim.knobs.Knobs`.
"""

from __future__ import annotations

from collections.abc import Iterator

from .disguises import west_variant
from .world import (
    BOT_UAS,
    DAY_MS,
    END,
    FLASH_LIST,
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


def _drop(g: Gen) -> tuple | str:
    """A ring's drop: address parts of a home, or a Western street line."""
    if g.rnd() < g.s.knobs.west_drop:
        city, street = g.pick(["London", "Manchester", "New York, NY", "Sydney NSW"]), g.pick(
            ["Baker Street", "High Street", "Oxford Road", "Main Street", "Elm Avenue", "Park Lane"])
        return f"{g.ri(1, 220)} {street}, Apt {g.ri(2, 40)}, {city}"
    return g.home()


def _write(g: Gen, drop: tuple | str, name: str) -> str | dict:
    return west_variant(drop, g.r) if isinstance(drop, str) else g.disguise_more(drop, name)


def aged_rings(g: Gen, n: int) -> Iterator[tuple[int, dict]]:
    """Rings of aged accounts: one /24, one disguised drop, one flash unit each at the opening."""
    k, rnd, ri, plans = g.s.knobs, g.rnd, g.ri, []
    while len(plans) < n:
        size = ri(*k.aged_ring_size)
        prefix = g.pick(g.s.proxies)
        devices = [(g.device(android=True), g.pick(BOT_UAS) if rnd() < .5 else g.ua()) for _ in range(ri(1, 3))]
        cards = [g.pay() for _ in range(ri(1, 2))]
        drop, names = _drop(g), [g.name() for _ in range(ri(2, 6))]
        sku = g.hot_sku()
        for _ in range(size):
            a = g.person(START, created=g.old(START, ri(60, 400)))
            plans.append((START + int(4000 * rnd() ** 1.6), a, sku, (prefix, devices, cards, drop, names)))

    def build(t, a, sku, ring):
        prefix, devices, cards, drop, names = ring
        ev = order_event(t, a, [flash_line(sku, 1, t)], "aged_ring", 1)
        ev["ip"] = g.proxy_ip(prefix)
        if rnd() < k.aged_device_share:
            ev["device_id"], ev["user_agent"] = g.pick(devices)
        if rnd() < k.aged_card_share:
            ev["payment_fingerprint"] = g.pick(cards)
        ev["shipping_address"] = _write(g, drop, g.pick(names))
        return ev
    yield from emit(plans[:n], build)


def sim_farms(g: Gen, n: int) -> Iterator[tuple[int, dict]]:
    """SIM farms: accounts days or weeks old on a few phone numbers typed every way."""
    k, rnd, ri, plans = g.s.knobs, g.rnd, g.ri, []
    while len(plans) < n:
        size = ri(*k.farm_size)
        phones = [g.phone(virtual=rnd() < .5) for _ in range(ri(*k.farm_phones))]
        handsets = [(g.device(android=True), g.ua()) for _ in range(max(2, size // ri(4, 10)))]
        drops, names = [_drop(g) for _ in range(ri(1, 3))], [g.name() for _ in range(ri(2, 6))]
        targets = g.r.sample(FLASH_LIST, g.pick((1, 1, 2)))
        for _ in range(size):
            created = timestamp(START - ri(k.farm_age_days[0] * DAY_MS, k.farm_age_days[1] * DAY_MS))
            a = g.person(START, created=created)
            a.phone = g.pick(phones)
            if rnd() < k.farm_device_share:
                a.device, a.ua = g.pick(handsets)
            farm = (g.pick(drops), names)
            plans.append((START + int(6000 * rnd() ** 1.5), a, targets, farm))
            if rnd() < .2:
                plans.append((START + ri(10_000, 900_000), a, targets, farm))

    def build(t, a, targets, farm):
        ev = order_event(t, a, [flash_line(s, 1, t) for s in targets], "sim_farm", 1)
        ev["phone"] = format_phone(a.phone, ri(0, 5))
        ev["shipping_address"] = _write(g, farm[0], g.pick(farm[1]))
        return ev
    yield from emit(plans[:n], build)


def multi_resellers(g: Gen, n: int) -> Iterator[tuple[int, dict]]:
    """One person, several accounts, the flash SKU once per account."""
    k, rnd, ri, plans = g.s.knobs, g.rnd, g.ri, []
    while len(plans) < n:
        home, ip = g.home(), g.res_ip(.1)
        device, ua = g.device(), g.ua()
        tablet = (g.device(), g.ua())
        card, phone, name = g.pay(), g.phone(), g.name()
        sku, t = g.hot_sku(), START + ri(0, 20_000)
        for _ in range(ri(*k.reseller_accounts)):
            created = g.old(START, 30) if rnd() < .6 else timestamp(START - ri(2 * DAY_MS, 60 * DAY_MS))
            a = Account(g.account_id(), created, ip, *((device, ua) if rnd() < .6 else tablet),
                        phone if rnd() < .5 else g.phone(), card if rnd() < .7 else g.pay(), home)
            plans.append((t, a, sku, name))
            t = min(t + ri(5_000, 240_000), END - MIN_MS)

    def build(t, a, sku, name):
        ev = order_event(t, a, [flash_line(sku, 1, t)], "multi_reseller", 1)
        ev["phone"] = format_phone(a.phone, ri(0, 5))
        ev["shipping_address"] = g.disguise_more(a.addr, name) if rnd() < .7 else g.render(a.addr, rnd() < .3, name)
        if rnd() < .2:
            ev["ip"] = g.res_ip(.3)  # on mobile data
        return ev
    yield from emit(plans[:n], build)
