"""The analysts' console in a real browser, against real Kafka, Redis, a running scorer
and a running learner.

A replay's obvious fraud is scored and alerted by the scorer; the console's open queue
page shows the alert without a reload; the analyst opens it, gives the verdict
"confirmed fraud" from the keyboard, and the labels topic gets exactly one
investigator label for it, however often the button is pressed, which the learner
joins and counts as an investigator's label; "genuine" then is a second label and a
second line of the audit trail, which the learner does not learn again. The delayed
label that follows confirms the verdict in the learner's counters. Requests without
the key are refused. The browser's screenshots of the queue and of the alert page are the ones in
docs/console.md when ``CONSOLE_SCREENSHOTS`` names a folder (``make
console-screenshots``).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np
import pandas as pd
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from fraudstream.config import Settings
from fraudstream.datasets.canonical import write_parquet_atomic
from fraudstream.harness.scorer import (
    RawRecord,
    ScorerThread,
    TopicWatcher,
    delete_keys,
    free_port,
    http_get,
    learner_env,
    metric_values,
    produce,
    scorer_env,
    wait_until,
)
from fraudstream.processes import stop_process
from fraudstream.replay.plan import Pace, ReplayOptions
from fraudstream.replay.service import replay
from fraudstream.schemas import Label, encode

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEY = "console-test-key"
ANALYST = "ann"
#: The cards that end with a fraud, and its amount.
FRAUDS = {3: 4_000.0, 7: 2_500.0, 10: 3_200.0}


def _frauds_among_regulars(cards: int = 12, per_card: int = 4) -> pd.DataFrame:
    """Cards spending 20-80 every few hours; three of them then spend thousands at once."""
    rng = np.random.default_rng(5)
    start = pd.Timestamp("2024-04-01", tz="UTC")
    rows: list[dict[str, Any]] = []
    for card in range(cards):
        first = start + pd.Timedelta(seconds=int(rng.integers(0, 6 * 3600)))
        for k in range(per_card + (card in FRAUDS)):
            fraud = k == per_card
            rows.append(
                {
                    "transaction_id": f"{'fraud' if fraud else 'ok'}-{card:02d}-{k}",
                    "event_time": first + pd.Timedelta(hours=7 * k),
                    "card_id": f"card-{card:02d}",
                    "merchant_id": f"merchant-{int(rng.integers(5)):02d}",
                    "amount": FRAUDS[card] if fraud else round(float(rng.uniform(20, 80)), 2),
                    "is_fraud": int(fraud),
                }
            )
    return pd.DataFrame(rows).sort_values("event_time", ignore_index=True)


@pytest.fixture
def console_settings(make_settings: Callable[..., Settings]) -> Iterator[Settings]:
    run = uuid.uuid4().hex[:8]
    settings = make_settings(
        "console",
        CONSOLE_KEY=KEY,
        CONSOLE_PORT=str(free_port()),
        CONSOLE_GROUP_ID=f"test-console-{run}",
        CONSOLE_KEY_PREFIX=f"test-console-{run}",
        SCORER_ALERT_BUDGET_PER_DAY="5",
        # every label learned is published at once; nothing logged to MLflow
        **learner_env(1, LEARNER_MLFLOW_EVERY="0", LEARNER_HTTP_PORT=str(free_port())),
    )
    yield settings
    delete_keys(settings.redis, settings.console.key_prefix)


@pytest.fixture
def console_url(console_settings: Settings, tmp_path: Path) -> Iterator[str]:
    """``fraudstream console`` running as its own process; its base URL."""
    settings = console_settings
    exe = shutil.which("fraudstream")
    assert exe is not None, "the fraudstream console script is not installed"
    env = {
        **scorer_env(settings),
        "CONSOLE_KEY": KEY,
        "CONSOLE_PORT": str(settings.console.port),
        "CONSOLE_GROUP_ID": settings.console.group_id,
        "CONSOLE_KEY_PREFIX": settings.console.key_prefix,
        "SCORER_ALERT_BUDGET_PER_DAY": str(settings.scorer.alert_budget_per_day),
    }
    url = f"http://127.0.0.1:{settings.console.port}"
    with (tmp_path / "console.log").open("ab") as log:
        process = subprocess.Popen([exe, "console"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:

            def ready() -> bool:
                try:
                    return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            assert wait_until(ready, 60, interval_s=0.3), (tmp_path / "console.log").read_text()
            yield url
        finally:
            stop_process(process, 20.0)


class LearnerCounters:
    """The counters of a running ``fraudstream learn``, read from its ``/metrics``."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self._process = process
        self._url = f"http://127.0.0.1:{port}/metrics"

    def read(self) -> dict[str, float]:
        """Each counter under test by ``name{label}`` ({} while nothing answers)."""
        assert self._process.poll() is None, "the learner exited"
        status, text = http_get(self._url)
        if status != 200:
            return {}
        found: dict[str, float] = {}
        for name in (
            "learner_labels_by_source_total",
            "learner_feedback_outcomes_total",
            "learner_join_dropped",
        ):
            for labels, value in metric_values(text, name).items():
                found[f"{name}{{{','.join(v for _, v in labels)}}}"] = value
        return found

    def wait_for(self, expected: dict[str, float], timeout_s: float = 30) -> None:
        """Wait until the counters named in ``expected`` have those values."""
        seen: dict[str, float] = {}

        def reached() -> bool:
            nonlocal seen
            seen = self.read()
            return all(seen.get(name) == value for name, value in expected.items())

        assert wait_until(reached, timeout_s, interval_s=0.3), (expected, seen)


def _screenshot(browser: webdriver.Chrome, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(folder / name))


def _console_labels(watcher: TopicWatcher) -> list[dict[str, Any]]:
    watcher.settle(quiet_s=1.0, timeout_s=10)
    labels = [msgspec.json.decode(r.value) for r in watcher.records if r.value]
    return [label for label in labels if label.get("source") == "investigator"]


def _press(browser: webdriver.Chrome, value: str) -> None:
    """Tab to the verdict button ``value`` and press Enter: the keyboard, not the mouse."""
    body = browser.find_element(By.TAG_NAME, "body")
    body.click()
    for _ in range(30):
        active = browser.switch_to.active_element
        if active.tag_name == "button" and active.get_attribute("value") == value:
            active.send_keys(Keys.ENTER)
            return
        active.send_keys(Keys.TAB)
    raise AssertionError(f"no verdict button {value!r} reachable with Tab")


@pytest.mark.timeout(240)
def test_an_alert_appears_and_its_verdict_becomes_one_investigator_label(
    console_settings: Settings,
    console_url: str,
    browser: webdriver.Chrome,
    learner_processes: Callable[[Settings], subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    settings = console_settings
    learner = LearnerCounters(learner_processes(settings), settings.learner.http_port)
    frame = _frauds_among_regulars()
    path = tmp_path / "frauds.parquet"
    write_parquet_atomic(frame, path)
    fraud_id = frame.loc[
        (frame["is_fraud"] == 1) & (frame["card_id"] == "card-03"), "transaction_id"
    ].item()
    alert_id = f"alert:{fraud_id}"

    # without the key: refused, pages and verdicts alike
    refused = httpx.get(f"{console_url}/", timeout=5)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Basic")
    wrong = httpx.get(f"{console_url}/", auth=(ANALYST, "wrong"), timeout=5)
    assert wrong.status_code == 401
    post = httpx.post(f"{console_url}/alerts/{alert_id}/verdict", data={"verdict": "fraud"})
    assert post.status_code == 401

    # the analyst's browser sends basic credentials with every request
    browser.execute_cdp_cmd("Network.enable", {})
    token = "Basic " + base64.b64encode(f"{ANALYST}:{KEY}".encode()).decode()
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": token}})
    browser.get(f"{console_url}/")
    assert "Alert queue" in browser.title
    assert not browser.find_elements(By.CSS_SELECTOR, f'tr[data-alert="{alert_id}"]')

    with (
        ScorerThread(settings) as scorer,
        TopicWatcher(settings.kafka.servers, settings.kafka.labels_topic) as labels,
    ):
        report = replay(settings, path, ReplayOptions(pace=Pace("max"), label_fraction=0.0))
        assert report.failed == 0
        # the open page refreshes its rows: the alert shows without a reload
        row = WebDriverWait(browser, 60, poll_frequency=0.5).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-alert="{alert_id}"]'))
        )
        scorer.check()
        assert "4000.00" in row.text
        browser.refresh()  # the whole page, as the screenshot shows it
        _screenshot(browser, "console-queue.png", tmp_path)

        browser.find_element(By.CSS_SELECTOR, f'tr[data-alert="{alert_id}"] a').click()
        WebDriverWait(browser, 10).until(ec.title_contains(alert_id))
        page = browser.find_element(By.TAG_NAME, "main").text
        assert "threshold 0.5000" in page
        assert "Model version" in page
        assert "amount" in page  # the first reason, with its served value
        assert fraud_id in page  # in the card's latest transactions
        assert "Merchant" in page

        _press(browser, "fraud")
        WebDriverWait(browser, 10).until(ec.url_contains("done=recorded"))
        assert "Verdict recorded" in browser.find_element(By.TAG_NAME, "main").text
        _screenshot(browser, "console-alert.png", tmp_path)
        _press(browser, "fraud")  # again: nothing changes
        WebDriverWait(browser, 10).until(ec.url_contains("done=unchanged"))

        given = _console_labels(labels)
        assert len(given) == 1, given
        assert given[0]["transaction_id"] == fraud_id
        assert given[0]["is_fraud"] is True
        assert given[0]["analyst"] == ANALYST
        assert given[0]["card_id"] == "card-03"
        assert "labelled_at" in given[0]
        # the learner joined the verdict with the served features and learned it
        learner.wait_for(
            {
                "learner_labels_by_source_total{investigator}": 1,
                "learner_labels_by_source_total{delayed}": 0,
            }
        )

        _press(browser, "genuine")  # a changed verdict: a new event
        WebDriverWait(browser, 10).until(ec.url_contains("done=recorded"))
        trail = browser.find_elements(By.CSS_SELECTOR, "section table tbody tr")
        assert sum(ANALYST in r.text for r in trail) >= 2
        given = _console_labels(labels)
        assert [label["is_fraud"] for label in given] == [True, False]
        scorer.check()

        # the delayed truth comes: fraud, as the first verdict said. The learner keeps
        # the first verdict of a transaction (the changed one counts as repeated) and
        # counts the delayed label as confirming it.
        truth = Label(
            transaction_id=fraud_id,
            is_fraud=True,
            labelled_at=datetime.now(UTC),
            card_id="card-03",
        )
        produce(
            settings.kafka.servers,
            settings.kafka.labels_topic,
            [RawRecord(value=encode(truth), key=b"card-03")],
        )
        learner.wait_for(
            {
                "learner_labels_by_source_total{investigator}": 1,
                "learner_labels_by_source_total{delayed}": 1,
                "learner_feedback_outcomes_total{confirmed}": 1,
                "learner_feedback_outcomes_total{overruled}": 0,
                "learner_join_dropped{label_repeated}": 1,
                "learner_join_dropped{feedback_late}": 0,
            }
        )

        # the cardholder reviews the card's other transactions: one is disputed
        box = browser.find_element(By.CSS_SELECTOR, 'input[name="disputed"][value="ok-03-1"]')
        box.send_keys(Keys.SPACE)  # ticked from the keyboard
        browser.find_element(By.CSS_SELECTOR, 'button[name="review"]').send_keys(Keys.ENTER)
        WebDriverWait(browser, 10).until(ec.url_contains("done=reviewed"))
        assert "review is recorded" in browser.find_element(By.TAG_NAME, "main").text
        reviewed = [x for x in _console_labels(labels) if x["transaction_id"] != fraud_id]
        assert sorted((x["transaction_id"], x["is_fraud"]) for x in reviewed) == [
            (f"ok-03-{k}", k == 1) for k in range(4)
        ]
        learner.wait_for({"learner_labels_by_source_total{investigator}": 5})
