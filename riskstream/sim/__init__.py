"""Deterministic flash-sale traffic with ground-truth labels (``riskstream simulate``).

* :mod:`.world` -- the sale, catalogue, cities, addresses, devices, networks, accounts, and the random draws;
* :mod:`.shoppers` -- benign scenarios, including look-alikes (NAT, campus, families, offices);
* :mod:`.attacks` -- abusive scenarios (rings, resellers, coupon farms);
* :mod:`.output` -- the merged, time-ordered stream and its JSONL file.

A seed gives byte-identical output.
"""

from .output import SCENARIOS, scenario_counts, simulate, write_jsonl
from .world import FLASH_SKUS, LIST_PRICES, SALE_END, SALE_ID, SALE_START

__all__ = ["FLASH_SKUS", "LIST_PRICES", "SALE_END", "SALE_ID", "SALE_START", "SCENARIOS",
           "scenario_counts", "simulate", "write_jsonl"]
