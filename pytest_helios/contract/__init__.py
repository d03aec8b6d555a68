"""The reusable Helios contract suite: ``pytest --pyargs pytest_helios.contract``.

Runs against the embedded emulator by default and against the real API with ``--helios-live``
(keys from ``HELIOS_*`` environment variables). It checks the 401 cases as Hypothesis
properties, the accepted and 400 responses of both endpoints, the 429 contract and every webhook
kind against ``schemas/``, and reports every ``x-helios-assumed`` choice of the schemas as
confirmed, contradicted (with the observed value) or not exercised: printed as a terminal
section and written as Markdown (``--helios-contract-report``). See docs/contract-suite.md.
"""
