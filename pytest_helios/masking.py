"""What pytest-helios shows of a secret or a long value: masked keys, shortened text.

Every message, repr and report of the plugin goes through here, so a key or a webhook secret
is never printed whole (``sk_live_…a1b2``) and no message grows without bound.
"""

from __future__ import annotations

from pytest_helios.facts import API_KEY_PREFIX, WEBHOOK_SECRET_PREFIX

__all__ = ["MaskedSecret", "mask_secret", "shorten"]


def mask_secret(secret: str) -> str:
    """Return a form of ``secret`` safe to print: a known prefix and the last four characters.

    >>> mask_secret("sk_live_" + "0" * 28 + "a1b2")
    'sk_live_…a1b2'
    """
    prefix = ""
    for known in (API_KEY_PREFIX, WEBHOOK_SECRET_PREFIX):
        if secret.startswith(known):
            prefix = known
    if len(secret) - len(prefix) < 12:
        return prefix + "…"
    return f"{prefix}…{secret[-4:]}"


class MaskedSecret(str):
    """A ``str`` holding a secret whose ``repr`` is masked (see `mask_secret`).

    It is the secret itself for every use (hashing, comparing, ``str()``), but pytest's
    tracebacks, assertion rewriting and logs, which show values by ``repr``, see
    ``'whsec_…a1b2'``.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(mask_secret(str(self)))


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in ``...`` when cut."""
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."
