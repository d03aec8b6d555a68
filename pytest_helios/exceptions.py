"""Every exception pytest-helios raises on purpose, in one place.

Four families, each with a base class to catch::

    WebhookVerificationError       a delivery failed verify_webhook(); ``reason`` says why
    ├── MissingHeader              X-Helios-Signature or X-Helios-Timestamp absent
    ├── MalformedHeader            present, but not in the documented format
    ├── TimestampOutOfTolerance    more than ``tolerance`` seconds away, either way
    ├── SignatureMismatch          well-formed, but no secret signed these exact bytes
    ├── MalformedBody              verified, but not UTF-8 JSON holding an object
    └── VerifierMisconfigured      the caller passed an unusable secret, tolerance or now

    HeliosError                    the API answered an error, or could not be reached
    ├── HeliosAuthError            401: the key is missing, invalid, revoked or foreign
    ├── HeliosValidationError      400: ``field_errors`` lists each bad field
    └── HeliosRateLimited          429: the concurrency limit; ``retry_after`` and counts

    ContractViolation              (an AssertionError) a payload breaks its schema

    CassetteFormatError            a cassette file that cannot be used
    CassetteWriteRefused           the scan found a secret or identifier; nothing was written
    CassetteWriteFailed            the disk refused the write; the earlier file is unchanged
    CassetteExpiredWarning         (a UserWarning) a replayed cassette is past its maximum age

Messages never hold a key or a webhook secret, only its masked form (``pytest_helios.masking``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_helios.facts import SIGNATURE_HEADER, TIMESTAMP_HEADER

if TYPE_CHECKING:
    from pytest_helios.cassettes.scan import Finding
    from pytest_helios.client import Concurrency, FieldError
    from pytest_helios.payloads.validation import Violation

__all__ = [
    "CassetteExpiredWarning",
    "CassetteFormatError",
    "CassetteWriteFailed",
    "CassetteWriteRefused",
    "ContractViolation",
    "HeliosAuthError",
    "HeliosError",
    "HeliosRateLimited",
    "HeliosValidationError",
    "MalformedBody",
    "MalformedHeader",
    "MissingHeader",
    "SignatureMismatch",
    "TimestampOutOfTolerance",
    "VerifierMisconfigured",
    "WebhookVerificationError",
]

#: How many further violations a ContractViolation's message lists before "... and N more".
_VIOLATIONS_LISTED = 10


class WebhookVerificationError(Exception):
    """A delivery failed verification; the subclass and the message say why.

    ``reason`` is a short, stable, machine-readable code (``"missing-header"`` and so on).
    """

    reason = "verification-failed"


class MissingHeader(WebhookVerificationError):
    """A required header (``header``) is absent, or its value is ``None``."""

    reason = "missing-header"

    def __init__(self, header: str) -> None:
        self.header = header
        super().__init__(f"{header} header is missing")


class MalformedHeader(WebhookVerificationError):
    """A header (``header``) is present but not in the documented format."""

    reason = "malformed-header"

    def __init__(self, header: str, problem: str) -> None:
        self.header = header
        self.problem = problem
        super().__init__(f"{header} header is malformed: {problem}")


class SignatureMismatch(WebhookVerificationError):
    """The signature is well-formed but no given secret produced it over these exact bytes."""

    reason = "signature-mismatch"

    def __init__(self, secrets_tried: int) -> None:
        self.secrets_tried = secrets_tried
        which = "the webhook secret" if secrets_tried == 1 else f"any of {secrets_tried} secrets"
        super().__init__(
            f"{SIGNATURE_HEADER} does not match the body signed with {which}: "
            "verify the exact raw request bytes (not re-serialized JSON) with the current secret"
        )


class TimestampOutOfTolerance(WebhookVerificationError):
    """The timestamp is more than ``tolerance`` seconds away from ``now``, either way."""

    reason = "timestamp-out-of-tolerance"

    def __init__(self, timestamp: int, now: int, tolerance: int) -> None:
        self.timestamp = timestamp
        self.now = now
        self.tolerance = tolerance
        skew = now - timestamp
        direction = "in the past" if skew > 0 else "in the future"
        super().__init__(
            f"{TIMESTAMP_HEADER} {timestamp} is {abs(skew)} s {direction}; "
            f"the tolerance is {tolerance} s either way (now={now})"
        )


class MalformedBody(WebhookVerificationError):
    """The signature verifies but the body is not UTF-8 JSON holding an object."""

    reason = "malformed-body"

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"the webhook body is malformed: {problem}")


class VerifierMisconfigured(WebhookVerificationError):
    """The caller passed an unusable ``secret``, ``tolerance`` or ``now`` (named in ``argument``).

    This is a defect in the receiving code, not in the delivery; it subclasses
    `WebhookVerificationError` so that `verify_webhook` keeps its promise to raise nothing else.
    """

    reason = "verifier-misconfigured"

    def __init__(self, argument: str, problem: str) -> None:
        self.argument = argument
        self.problem = problem
        super().__init__(f"verify_webhook was called with an unusable {argument}: {problem}")


class HeliosError(Exception):
    """Helios answered with an error, or could not be reached, or the client is misconfigured.

    ``status_code`` is the HTTP status (``None`` when there was no answer), ``body`` the parsed
    JSON body when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body: Any = None,
        concurrency: Concurrency | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body = body
        self.concurrency = concurrency


class HeliosAuthError(HeliosError):
    """401: the ``x-api-key`` header is missing, or the key is invalid, revoked or foreign."""


class HeliosValidationError(HeliosError):
    """400: the request failed validation; ``field_errors`` lists each bad field."""

    def __init__(self, message: str, *, field_errors: Sequence[FieldError], **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.field_errors = list(field_errors)


class HeliosRateLimited(HeliosError):
    """429: the account's concurrency limit for this agent type is reached.

    ``retry_after`` is the documented ``Retry-After`` in seconds (``None`` when absent),
    ``active_count`` and ``limit`` come from the body, ``concurrency`` from the headers.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None,
        active_count: int | None,
        limit: int | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.active_count = active_count
        self.limit = limit


class ContractViolation(AssertionError):
    """A payload does not match its Helios contract schema.

    ``schema``, ``path``, ``keyword`` and ``value`` describe the first violation (``value`` is
    the ``repr`` of the offending value, cut short); ``violations`` lists all of them.
    It subclasses ``AssertionError`` so that pytest reports it as a failed check.
    """

    def __init__(self, schema: str, violations: Sequence[Violation]) -> None:
        if not violations:
            raise ValueError("ContractViolation needs at least one violation")
        self.schema = schema
        self.violations: tuple[Violation, ...] = tuple(violations)
        first = self.violations[0]
        self.path = first.path
        self.keyword = first.keyword
        self.value = first.value
        super().__init__(self._render())

    def __reduce__(self) -> tuple[type[ContractViolation], tuple[str, tuple[Violation, ...]]]:
        # rebuilt from its parts, so it survives pickling (multiprocessing, pytest-xdist)
        return (type(self), (self.schema, self.violations))

    def _render(self) -> str:
        first, rest = self.violations[0], self.violations[1:]
        lines = [f"schema '{self.schema}' violated {first.describe()}"]
        if rest:
            noun = "violation" if len(rest) == 1 else "violations"
            lines.append(f"{len(rest)} more {noun}:")
            lines.extend(f"  - {violation.describe()}" for violation in rest[:_VIOLATIONS_LISTED])
            if len(rest) > _VIOLATIONS_LISTED:
                lines.append(f"  - ... and {len(rest) - _VIOLATIONS_LISTED} more")
        return "\n".join(lines)


class CassetteFormatError(Exception):
    """A cassette file that cannot be used: names the file and the problem."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"helios: cannot use cassette {path}: {problem}")


class CassetteWriteRefused(Exception):
    """The scan found a secret or identifier in the bytes about to be written; nothing was."""

    def __init__(self, path: str, findings: list[Finding]) -> None:
        self.path = path
        self.findings = findings
        lines = "\n".join(f"  {finding}" for finding in findings)
        count = len(findings)
        super().__init__(
            f"helios: refused to write cassette {path}: {count} secret"
            f"{'s' if count != 1 else ''} or identifier{'s' if count != 1 else ''} "
            f"survived scrubbing\n{lines}\n"
            "Nothing was written. Add a rule so the scrubber removes it (ini "
            "helios_scrub_headers, helios_scrub_keys or helios_identifying_keys, or the "
            "helios_cassette_config fixture)."
        )


class CassetteWriteFailed(Exception):
    """Writing a cassette (or its webhook capture) failed: a full disk, a file-size limit, a
    permission. The atomic write left the earlier file as it was; the message says so."""

    def __init__(self, shown: str, error: OSError, *, written: str | None = None) -> None:
        self.path = shown
        reason = error.strerror or str(error)
        outcome = (
            f"The cassette {written} was written without it: re-record to keep them together."
            if written is not None
            else "Nothing was written: the earlier cassette, if any, is unchanged."
        )
        super().__init__(f"helios: could not write cassette {shown}: {reason}. {outcome}")


class CassetteExpiredWarning(UserWarning):
    """A replayed cassette is older than its maximum age."""
