"""What an account's fault injection and per-test results do to one run of it.

:func:`for_run` is called once as a run starts: it consumes the account's ``next_result`` and
``reorder_next_run`` and gives the run its deliverer and result hook. With nothing set (the
common case) they are the emulator's own, unchanged. Request faults are answered by the app
(``app.RequestFaults``); bad signatures are chosen per attempt (``Account.signing_secret``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from .delivery import Deliverer
    from .runs import ResultHook
    from .state import Account, ResultChange

#: The statuses of a run's last webhook.
_FINAL = ("completed", "error")


def for_run(
    account: Account, deliverer: Deliverer, hook: ResultHook | None
) -> tuple[Deliverer, ResultHook | None]:
    """The deliverer and result hook of a run of ``account`` starting now."""
    change = account.take_next_result()
    if change is not None:
        hook = _combined(hook, change)
    reorder = account.take_reordering()
    if reorder or account.states.duplicated_deliveries:
        # the run uses only ``deliver``, which _RunDeliverer has with the same signature
        deliverer = cast("Deliverer", _RunDeliverer(deliverer, reorder))
    return deliverer, hook


def _combined(session: ResultHook | None, change: ResultChange) -> ResultHook:
    """The session's hook (if any), then the test's ``next_result`` change."""

    def hook(agent: str, request: dict[str, Any], result: dict[str, Any]) -> None:
        if session is not None:
            session(agent, request, result)
        if isinstance(change, dict):
            result.update(change)
        else:
            change(agent, request, result)

    return hook


class _RunDeliverer:
    """One run's deliveries, out of order or duplicated as its account's states say."""

    def __init__(self, inner: Deliverer, reorder: bool) -> None:
        self._inner = inner
        self._reorder = reorder
        self._held: list[tuple[str, dict[str, Any]]] = []

    async def deliver(self, account: Account, url: str, payload: dict[str, Any]) -> bool:
        if not self._reorder:
            return await self._send(account, url, payload)
        self._held.append((url, payload))
        if payload.get("status") not in _FINAL:
            return True
        delivered = True
        for held_url, held in reversed(self._held):
            delivered = await self._send(account, held_url, held) and delivered
        self._held.clear()
        return delivered

    async def _send(self, account: Account, url: str, payload: dict[str, Any]) -> bool:
        delivered = await self._inner.deliver(account, url, payload)
        if account.take_duplicate_delivery():
            await self._inner.deliver(account, url, payload)
        return delivered
