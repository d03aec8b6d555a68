"""Helios Gateway: a FastAPI service that submits lab results to Helios and stores the
analyses its webhook endpoint receives."""

from gateway.app import WEBHOOK_PATH, Settings, create_app

__all__ = ["WEBHOOK_PATH", "Settings", "create_app"]
