"""The header containers servers and frameworks hand a webhook receiver, built from a request.

`Wire` holds a request's headers the three ways a receiver gets them: parsed by the standard
library's HTTP parser (what ``http.server`` hands over as ``self.headers``), as a WSGI environ
(``request.META`` in Django) and as an ASGI scope's ``headers`` list. `CONTAINERS` builds every
supported container from a `Wire`, each one the way its framework builds it. The real-server
tests capture a `Wire` from real servers; the fuzzing builds one with `Wire.from_pairs`.
"""

from __future__ import annotations

import email.parser
import enum
import http.client
import io
import wsgiref.headers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import multidict
import requests.structures
import starlette.datastructures
import werkzeug.datastructures
from django.http.request import HttpHeaders

Pairs = Sequence[tuple[str, str]]

try:
    from enum import StrEnum
except ImportError:  # Python 3.10: the same thing by hand

    class StrEnum(str, enum.Enum):  # type: ignore[no-redef]
        pass


class HeliosHeader(StrEnum):
    """Header names as an application might keep them: members of a ``str`` enum."""

    SIGNATURE = "X-Helios-Signature"
    TIMESTAMP = "X-Helios-Timestamp"
    RUN_ID = "X-Helios-Run-ID"
    CONTENT_TYPE = "Content-Type"


_ENUM_NAMES = {member.value.lower(): member for member in HeliosHeader}


@dataclass(frozen=True)
class Wire:
    """One request's headers as receivers get them."""

    message: http.client.HTTPMessage  # http.server's self.headers
    environ: dict[str, Any]  # the WSGI environ, Django's request.META
    scope_headers: list[tuple[bytes, bytes]]  # an ASGI scope's "headers"

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """The (name, value) pairs in the order they came, a repeated header twice."""
        return list(self.message.items())

    @classmethod
    def from_pairs(cls, pairs: Pairs) -> Wire:
        """The three forms of a request sent with ``pairs``, built as the servers build them."""
        block = b"".join(f"{name}: {value}\r\n".encode("latin-1") for name, value in pairs)
        message = http.client.parse_headers(io.BytesIO(block + b"\r\n"))
        environ: dict[str, Any] = {"REQUEST_METHOD": "POST", "PATH_INFO": "/hook"}
        for name, value in message.items():  # as wsgiref.simple_server does (PEP 3333)
            key = name.replace("-", "_").upper()
            value = value.strip()
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                environ[key] = value
            elif "HTTP_" + key in environ:
                environ["HTTP_" + key] += "," + value
            else:
                environ["HTTP_" + key] = value
        scope_headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in message.items()
        ]
        return cls(message, environ, scope_headers)


def _latin1_pairs(wire: Wire) -> list[tuple[bytes, bytes]]:
    return [(n.encode("latin-1"), v.encode("latin-1")) for n, v in wire.pairs]


@dataclass(frozen=True)
class Container:
    """A header container: ``build`` makes it from a request; ``keeps_repeats`` is False for
    the ones that keep one value of a repeated header (a WSGI environ joins both: it counts)."""

    name: str
    build: Callable[[Wire], object]
    keeps_repeats: bool = True


CONTAINERS: tuple[Container, ...] = (
    Container("dict", lambda w: dict(w.pairs), keeps_repeats=False),
    Container("list of str pairs", lambda w: w.pairs),
    Container("list of bytes pairs", _latin1_pairs),
    Container("ASGI scope headers", lambda w: [list(pair) for pair in w.scope_headers]),
    Container("httpx.Headers", lambda w: httpx.Headers(w.pairs)),
    Container("http.server HTTPMessage", lambda w: w.message),
    Container(
        "email.message.Message",
        lambda w: email.parser.HeaderParser().parsestr(
            "".join(f"{name}: {value}\r\n" for name, value in w.pairs) + "\r\n"
        ),
    ),
    Container("wsgiref.headers.Headers", lambda w: wsgiref.headers.Headers(w.pairs)),
    Container("WSGI environ, Django request.META", lambda w: w.environ),
    Container("werkzeug Headers", lambda w: werkzeug.datastructures.Headers(w.pairs)),
    Container(
        "Flask request.headers (werkzeug EnvironHeaders)",
        lambda w: werkzeug.datastructures.EnvironHeaders(w.environ),
    ),
    Container("Django request.headers (HttpHeaders)", lambda w: HttpHeaders(w.environ)),
    Container(
        "FastAPI request.headers (starlette Headers)",
        lambda w: starlette.datastructures.Headers(scope={"headers": w.scope_headers}),
    ),
    Container(
        "aiohttp request.headers (CIMultiDictProxy)",
        lambda w: multidict.CIMultiDictProxy(multidict.CIMultiDict(w.pairs)),
    ),
    Container(
        "requests CaseInsensitiveDict",
        lambda w: requests.structures.CaseInsensitiveDict(w.pairs),
        keeps_repeats=False,
    ),
    Container(
        "str enum header names",
        lambda w: [(_ENUM_NAMES.get(n.lower(), n), v) for n, v in w.pairs],
    ),
)
