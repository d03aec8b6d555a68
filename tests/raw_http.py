"""Raw HTTP over a socket, for the tests that send what no HTTP client would."""

from __future__ import annotations

import socket


def exchange(url: str, data: bytes, *, half_close: bool = False, timeout: float = 10.0) -> bytes:
    """Send ``data`` on a fresh connection to ``url`` (``http://host:port``), closing our side
    after it when ``half_close``, and read until the server closes the connection (or is
    silent for ``timeout`` seconds): every byte the server answered."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may close early on a request it refuses: that is fine
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)
