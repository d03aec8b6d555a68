"""The reusable Helios contract suite: ``pytest --pyargs pytest_helios.contract``.

Runs against the embedded emulator by default and against the real API with ``--helios-live``
(keys from ``HELIOS_*`` environment variables). It checks the 401 cases as Hypothesis
properties, the accepted and 400 responses of both endpoints, the 429 contract and every webhook
kind against ``schemas/``, and reports every ``x-helios-assumed`` choice of the schemas as
confirmed, contradicted (with the observed value) or not exercised: printed as a terminal
section and written as Markdown (``--helios-contract-report``). See docs/contract-suite.md.

The parts: ``plugin.py``, the contract plugin (its options, and the session of ``_session.py``
that merges pytest-xdist workers' records and writes the report); ``conftest.py``, the suite's
fixtures; ``test_*.py``, the suite; ``_support.py``, ``_properties.py`` and ``_relay.py``, what
the tests share; ``_recorder.py`` and ``_assumptions.py``, the record and the report.
"""
