"""The ``helios`` command: the emulator, its accounts and keys, and webhook tools for any language.

One entry point (``helios = "pytest_helios.cli.main:main"``), one module per command group:

- ``main``: the parser, the dispatch and how errors and exit statuses are reported;
- ``emulator``: ``helios emulator``, which is ``helios-emulator`` under another name;
- ``admin``: ``helios accounts``, ``helios keys`` and ``helios secret``, the dashboard of a running
  emulator through its HTTP admin API;
- ``trigger``: ``helios trigger``, a signed delivery of any kind or bad variant sent to a URL,
  or printed as the ``curl`` command that sends it;
- ``signatures``: ``helios sign`` and ``helios verify`` of a body or a saved delivery;
- ``conformance``: ``helios conformance``, the endpoint conformance kit against a URL;
- ``documents``: ``helios openapi`` and ``helios vectors``, the shipped machine-readable files;
- ``_common``: the options, errors and output every command shares.

docs/cli.md documents every command, its ``--json`` output and its exit statuses.
"""
