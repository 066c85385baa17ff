"""What the browser tests share: skip without a browser, except under CI=true (then fail)."""
from __future__ import annotations

import os

import pytest

from paperlib.tools import browser


def require_browser():
    """Skip (one line: why) when Chromium or Playwright is missing; fail instead under ``CI=true``."""
    reason = browser.missing_browser_reason()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run under CI=true: {reason}", pytrace=False)
    pytest.skip(f"browser test skipped: {reason}")
