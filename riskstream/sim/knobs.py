"""The run's parameters: drawn from the seed, so no rule can be tuned to one configuration.

Each seed gives other ring sizes, shares of shared devices and cards, phone
counts, account ages and disguise rates for the families of :mod:`.farms`;
the same seed gives the same draw.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Knobs:
    aged_ring_size: tuple[int, int]  #: accounts per aged-account ring
    aged_device_share: float  #: chance an aged ring order comes from one of the ring's devices
    aged_card_share: float  #: chance it is paid with one of the ring's cards
    farm_size: tuple[int, int]  #: accounts per SIM farm
    farm_phones: tuple[int, int]  #: phone numbers per SIM farm
    farm_age_days: tuple[int, int]  #: age of a SIM farm's accounts at the sale
    farm_device_share: float  #: chance a SIM farm order comes from one of the farm's handsets
    reseller_accounts: tuple[int, int]  #: accounts per multi-account reseller
    typo: float  #: chance a disguised address has a typo in its name
    pinyin: float  #: chance its road is written in pinyin
    junk: float  #: chance of stray characters inside it
    compact: float  #: chance the building, entrance and room are written 5-2-1102
    west_drop: float  #: chance a ring's drop address is abroad (Western spelling varies instead)

    @classmethod
    def draw(cls, seed: int) -> "Knobs":
        r = random.Random(f"riskstream.simulate:{seed}:knobs")

        def span(lo: tuple[int, int], hi: tuple[int, int]) -> tuple[int, int]:
            a = r.randint(*lo)
            return a, max(a + 1, r.randint(*hi))

        return cls(
            aged_ring_size=span((4, 8), (12, 30)),
            aged_device_share=r.uniform(.1, .6),
            aged_card_share=r.uniform(.2, .8),
            farm_size=span((6, 10), (15, 40)),
            farm_phones=span((2, 3), (4, 6)),
            farm_age_days=span((3, 7), (14, 30)),
            farm_device_share=r.uniform(.2, .8),
            reseller_accounts=span((3, 3), (4, 6)),
            typo=r.uniform(.1, .4),
            pinyin=r.uniform(.05, .25),
            junk=r.uniform(.2, .5),
            compact=r.uniform(.1, .4),
            west_drop=r.uniform(0, .15),
        )
