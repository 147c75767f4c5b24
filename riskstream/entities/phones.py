"""Canonical phone keys: :func:`phone_key` gives E.164 text (``"+8613800138000"``).

Chinese mobiles in the usual shapes skip the ``phonenumbers`` parser but give
exactly its result; everything else is parsed by the library behind a bounded
LRU cache.  Returns ``None`` for text that is not a possible phone number.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

from .limits import CACHE_MAX_LEN, CACHE_SIZE

__all__ = ["phone_key"]


# Separators people and forms put into phone numbers; removed before the
# fast-path shape check (anything else goes to the library).
_PHONE_SEPARATORS = str.maketrans(
    "", "", " -.()\t\u00a0\u3000\u2010\u2011\u2012\u2013\u2014\u2212"
)
_POSSIBLE = phonenumbers.ValidationResult.IS_POSSIBLE
_E164 = phonenumbers.PhoneNumberFormat.E164


def _e164(phone: str, region: str | None) -> str | None:
    try:
        number = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_possible_number_with_reason(number) != _POSSIBLE:
        return None
    return phonenumbers.format_number(number, _E164)


@lru_cache(maxsize=CACHE_SIZE)
def _phone_key_library(phone: str, region: str) -> str | None:
    key = _e164(phone, region)
    # The library's E.164 text of a number with a leading zero is not always read back as
    # the same number ("+8800138000" -> "+880138000"): take the key to a fixed point,
    # so that the key of a key is the key itself.
    for _ in range(20):  # each round drops at most one zero; E.164 has at most 15 digits
        if key is None:
            return None
        again = _e164(key, None)
        if again is None or again == key:
            return key
        key = again
    return key


def _cn_mobile_fast(phone: str) -> str | None:
    """E.164 for a Chinese mobile in the usual shapes, None if not that shape.

    Accepted (after removing separators): ``1[3-9]`` + 9 digits, optionally
    preceded by ``86``, ``0086`` or ``+86``. Bare numbers starting ``179`` are
    left to the library: with region CN, ``179xx`` is a carrier prefix and
    ``179xx00`` an international dialling prefix, so the library may read them
    differently. For every accepted shape the library yields ``"+86" + the 11
    digits`` (checked in the tests against the library on generated numbers).
    """
    d = phone
    if not d.isdigit():
        d = d.replace(" ", "").replace("-", "")
        if not d.isdigit() and not d[1:].isdigit():
            d = d.translate(_PHONE_SEPARATORS)
    n = len(d)
    if n == 11:
        if d.startswith("179"):
            return None
        tail = d
    elif n == 13 and d.startswith("86"):
        tail = d[2:]
    elif n == 14 and d.startswith("+86"):
        tail = d[3:]
    elif n == 15 and d.startswith("0086"):
        tail = d[4:]
    else:
        return None
    if tail[0] == "1" and "3" <= tail[1] <= "9" and tail.isdigit() and tail.isascii():
        return "+86" + tail
    return None


def phone_key(phone: str, region: str | None = "CN") -> str | None:
    """E.164 text of a phone number (``"+8613800138000"``), or None.

    Numbers without a country code are read in ``region`` (ISO 3166 alpha-2,
    default CN; with None only numbers written with ``+`` parse). None when
    the text is not a phone number or not a *possible* one (wrong length for
    its country, or dialable only locally without an area code). Possibility,
    not validity: assignments of number ranges change with library releases,
    lengths almost never do. Extensions are dropped.
    """
    if not isinstance(phone, str):
        if isinstance(phone, int) and not isinstance(phone, bool):
            phone = str(phone)
        else:
            return None
    if region != "CN" and region is not None:
        if not isinstance(region, str):
            return None
        region = region.upper()
    if region == "CN":
        fast = _cn_mobile_fast(phone)
        if fast is not None:
            return fast
    if len(phone) > CACHE_MAX_LEN:
        return _phone_key_library.__wrapped__(phone, region)
    return _phone_key_library(phone, region)
