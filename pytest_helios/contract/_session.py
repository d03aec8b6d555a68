"""The contract suite's state for one pytest run, and the hooks that report it.

The contract plugin registers one :class:`ContractSession` in ``pytest_configure`` (and keeps it
in the config stash for the suite's fixtures). Its recorder exists only once a contract test
asked for it, so a run without the suite writes no report; with pytest-xdist each worker sends
its record to the controller, which merges them and reports once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_helios import _stash

if TYPE_CHECKING:
    from pytest_helios.contract._recorder import ContractRecorder

DEFAULT_EXAMPLES = 10
DEFAULT_REPORT = "helios-contract-report.md"
#: The key of a worker's record in pytest-xdist's ``workeroutput``.
WORKER_OUTPUT = "helios_contract"


def of(config: pytest.Config) -> ContractSession:
    """The run's contract session; a UsageError if the contract plugin is not active."""
    session = config.stash.get(_stash.contract, None)
    if session is None:
        raise pytest.UsageError(
            "the contract suite needs its plugin, pytest_helios.contract.plugin, and it is "
            "not active (was it disabled with -p no:pytest_helios.contract.plugin?)"
        )
    return session


class ContractSession:
    """Examples per property, where the report goes, the recorder (created by the first
    contract test) and the pytest-xdist workers that ended abnormally."""

    def __init__(self, config: pytest.Config, *, examples: int, report_path: Path) -> None:
        self.config = config
        self.examples = examples
        self.report_path = report_path
        self.recorder: ContractRecorder | None = None
        #: pytest-xdist workers that ended abnormally: what they observed is missing
        self.lost_workers: list[str] = []

    def recorder_for_run(self) -> ContractRecorder:
        """The run's recorder, created on first use (the report is only written then)."""
        if self.recorder is None:
            from pytest_helios import _options
            from pytest_helios.contract._recorder import ContractRecorder

            settings = _options.of(self.config)
            target = f"live API at {settings.base_url}" if settings.live else "embedded emulator"
            self.recorder = ContractRecorder(self.report_path, target)
        return self.recorder

    def _is_worker(self) -> bool:
        return hasattr(self.config, "workeroutput")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self) -> None:
        if self.recorder is None:
            return
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:  # a pytest-xdist worker: its controller merges and reports
            workeroutput[WORKER_OUTPUT] = self.recorder.state()
            return
        self.recorder.lost_workers = self.lost_workers
        self.recorder.write_report()

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """pytest-xdist's controller: merge each worker's contract record into one report, and
        remember a worker that ended abnormally (its record never arrives)."""
        state = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT)
        if state is not None:
            self.recorder_for_run().merge(state)
        elif error is not None:
            self.lost_workers.append(str(getattr(node, "workerinput", {}).get("workerid", node)))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.recorder is not None and not self._is_worker():
            self.recorder.terminal_summary(terminalreporter)
