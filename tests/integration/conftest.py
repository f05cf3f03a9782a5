"""Integration-test plumbing: show what a live ``picpaygo serve`` said when a test fails."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from support.server import LIVE_SERVERS


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the output of every server still running to a failed test's report."""
    report = yield
    if report.failed and LIVE_SERVERS:
        for server in sorted(LIVE_SERVERS, key=lambda s: s.port):
            report.sections.append(
                (f"picpaygo serve output ({server.base_url})", server.output() or "(nothing)")
            )
    return report
