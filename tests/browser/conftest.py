"""Fixtures of the browser tests: a headless Chromium driven by Selenium.

Debian's ``chromium`` and ``chromium-driver`` (installed by ``make services-up`` /
``make test``, infra/local/browser.sh), or else a ``google-chrome`` and the
``chromedriver`` in ``$CHROMEWEBDRIVER`` (GitHub's runners): Selenium is pointed at
them, and never downloads a browser of its own.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

#: The size the console must read well at.
WINDOW = (1280, 800)


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    """Headless Chromium at 1280x800."""
    binary = shutil.which("chromium") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver") or shutil.which(
        "chromedriver", path=os.environ.get("CHROMEWEBDRIVER")
    )
    if binary is None or driver is None:
        pytest.fail(
            "chromium and chromedriver are needed: `make services-up` installs them "
            "(apt-get install chromium chromium-driver)",
            pytrace=False,
        )
    options = Options()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    try:
        yield chrome
    finally:
        chrome.quit()
