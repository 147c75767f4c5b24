"""The entities an order touches, made comparable and private.

Canonical keys (two spellings of one entity give one key) and keyed
pseudonyms (what state holds instead of the raw value):

* :mod:`.ips` -- :func:`ip_key`, :func:`ip_prefix` (the /24 or /64 network);
* :mod:`.phones` -- :func:`phone_key` (E.164);
* :mod:`.addresses` -- :func:`address_key`, :func:`address_text`, :func:`address_locality`;
* :mod:`.pseudonyms` -- :func:`pseudonym` (keyed BLAKE2b);
* :mod:`.fuzzy` -- fuzzy address linking on keyed signatures (disguised variants of one address).

Every key function runs on the per-order hot path, returns ``None`` for input
it cannot make sense of, and never raises on arbitrary text.
"""

from .addresses import address_key, address_locality, address_text
from .ips import ip_key, ip_prefix
from .phones import phone_key
from .pseudonyms import pseudonym, pseudonym_function

__all__ = [
    "address_key",
    "address_locality",
    "address_text",
    "ip_key",
    "ip_prefix",
    "phone_key",
    "pseudonym",
    "pseudonym_function",
]
