"""Cassettes: record Helios traffic once, replay it offline, never write a secret or a patient.

The parts, one module each:

- ``config``: the settings (record mode, directory, expiry, extra rules) and their precedence;
- ``scrub``: secrets replaced and patient identifiers pseudonymized, before matching and saving;
- ``scan``: the independent scan of the exact bytes about to be written (fails closed);
- ``persister``: the on-disk format (readable YAML, provenance) written atomically;
- ``matching``: method, path, query and canonical-JSON-body matching, and miss messages;
- ``recorder``: one cassette per test on vcrpy, the glue the pytest plugin drives;
- ``schema_checks``: replayed interactions checked against ``schemas/``;
- ``lint``: the cassette linter behind ``pytest --helios-lint-cassettes`` and
  ``helios-cassettes lint``.

Nothing here imports vcrpy at module level except ``recorder``, which the plugin imports lazily.
"""

from __future__ import annotations
