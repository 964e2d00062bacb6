"""Bucket bounds of the services' Prometheus histograms, written in one place.

Latencies are in seconds, on the 1-2.5-5 steps of :data:`STEPS`, with finer or wider
bounds where a histogram needs them.

>>> API_REQUEST_SECONDS[:4]
(0.0005, 0.001, 0.002, 0.005)
>>> SCORE[0], SCORE[-1], len(SCORE)
(0.05, 1.0, 20)
"""

from __future__ import annotations

from typing import Final

#: 5 ms to 2.5 s, the steps every latency histogram shares.
STEPS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: One API request: answers take a few milliseconds, so finer bounds below 5 ms.
API_REQUEST_SECONDS: Final = (0.0005, 0.001, 0.002, *STEPS)
#: A scored transaction, from its Kafka timestamp to its results committed: time
#: queued in Kafka and in its batch counts too, so bounds up to 10 s.
END_TO_END_SECONDS: Final = (0.002, *STEPS[:2], 0.015, *STEPS[2:], 5.0, 10.0)
#: One pipelined feature store answer: 0.5 ms to 250 ms.
FEATURE_STORE_SECONDS: Final = (0.0005, 0.001, 0.0025, *STEPS[:6])
#: One phase of a stream batch (a poll, a flush, a commit...): 0.1 ms to 2.5 s.
PHASE_SECONDS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, *STEPS)
#: Model scores, in twentieths from 0.05 to 1.
SCORE: Final = tuple(i / 20 for i in range(1, 21))
