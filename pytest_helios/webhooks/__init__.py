"""Helios webhooks: signing and verifying, fake deliveries, sending, receiving, conformance kits."""
