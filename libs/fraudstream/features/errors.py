"""What a feature store raises, whichever store it is.

Callers of the :class:`~fraudstream.features.store.FeatureStore` interface catch these,
so they need not know which store answers.
"""

from __future__ import annotations

from fraudstream.errors import FraudstreamError, ServiceUnavailableError


class FeatureStoreError(FraudstreamError):
    """The feature store rejected a request (a script error, a wrong-type key)."""


class FeatureStoreUnavailableError(ServiceUnavailableError):
    """The store cannot be reached or timed out: pause and retry, commit nothing."""
