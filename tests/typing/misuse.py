"""Wrong uses of the public API: ``mypy --strict`` must report each line marked ``# E: code``.

When the package's ``__init__`` had only a lazy ``__getattr__``, every public name was ``Any``
to a type checker and all of this passed unnoticed; an unknown name still did until the
``__getattr__`` was hidden from type checkers.
"""

from __future__ import annotations

from pytest_helios import HeliosClient, NoSuchName, verify_webhook  # E: attr-defined
from pytest_helios.payloads import STEP_NAMES, no_such_builder  # E: attr-defined
from pytest_helios.webhooks import FakeRun, WebhookFactory

HeliosClient(1, 2, 3, bogus=True)  # E: call-arg, arg-type
verify_webhook("not bytes", {}, "whsec_x", tolerance="300")  # E: arg-type
run: FakeRun = WebhookFactory("whsec_x")("light")  # E: assignment
steps: list[str] = STEP_NAMES["light"]  # E: assignment
unknown = (NoSuchName, no_such_builder)
