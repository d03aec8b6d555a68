"""Masking of secrets for reprs, logs and messages: ``sk_live_…a1b2``, never the value."""

from __future__ import annotations

KEY_PREFIX = "sk_live_"


def mask_secret(value: object) -> str:
    """Return a masked form of a key or secret that is safe to print.

    Keeps the documented ``sk_live_`` prefix (it says what kind of value it is) and the last
    four characters when the value is long enough that they give nothing away; everything else
    becomes ``…``.
    """
    if not isinstance(value, str) or not value:
        return "<none>"
    prefix = KEY_PREFIX if value.startswith(KEY_PREFIX) else ""
    rest = value[len(prefix) :]
    tail = rest[-4:] if len(rest) >= 16 else ""
    return f"{prefix}…{tail}"
