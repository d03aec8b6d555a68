"""``python -m lab_portal``: serve the portal, configured from the environment.

``HELIOS_API_KEY``, ``HELIOS_WEBHOOK_SECRETS`` (comma-separated: two during a rotation),
``LAB_PORTAL_PUBLIC_URL`` (where Helios reaches this service, HTTPS), and optionally
``HELIOS_BASE_URL``, ``LAB_PORTAL_DATABASE`` and ``LAB_PORTAL_PORT``.
"""

from __future__ import annotations

import os
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIServer, make_server

from lab_portal.app import create_app


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def main() -> None:
    secrets = [s.strip() for s in os.environ["HELIOS_WEBHOOK_SECRETS"].split(",") if s.strip()]
    app = create_app(
        helios_base_url=os.environ.get("HELIOS_BASE_URL", "https://api.heliosai.health"),
        helios_api_key=os.environ["HELIOS_API_KEY"],
        webhook_secrets=secrets,
        public_url=os.environ["LAB_PORTAL_PUBLIC_URL"],
        database=os.environ.get("LAB_PORTAL_DATABASE", "lab-portal.sqlite3"),
    )
    port = int(os.environ.get("LAB_PORTAL_PORT", "8000"))
    with make_server("127.0.0.1", port, app, server_class=ThreadingWSGIServer) as server:
        print(f"lab portal on http://127.0.0.1:{port}, webhooks at {app.webhook_url}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
