"""Lab Portal: a small clinic service that sends lab results to Helios and stores the analyses.

It is the downstream service of pytest-helios's example: ``app.create_app`` builds the WSGI
app, ``helios`` submits lab results, ``signatures`` verifies webhooks over the raw body, and
``store`` keeps each ``(runId, sequenceNumber)`` once, in order.
"""
