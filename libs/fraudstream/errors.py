"""The one exception hierarchy of fraudstream.

Every error the library raises on purpose derives from :class:`FraudstreamError`.
Each class carries the process exit code the CLI maps it to, so edges (CLI, HTTP)
translate errors in one place.

>>> err = DataFileError("data.csv", "missing column 'Amount'")
>>> str(err)
"data.csv: missing column 'Amount'"
>>> err.exit_code
65
"""

from __future__ import annotations

import ssl
from pathlib import Path


class FraudstreamError(Exception):
    """Root of every error fraudstream raises on purpose."""

    #: Process exit code used by the CLI (sysexits.h style).
    exit_code: int = 1


class ConfigError(FraudstreamError):
    """A setting is missing or invalid."""

    exit_code = 78  # EX_CONFIG


def untrusted_certificate(
    exc: BaseException, where: str, setting: str, cafile: Path | None
) -> ConfigError | None:
    """The error naming ``setting`` (the CA bundle, now ``cafile``) when ``exc``, or an
    exception it was raised from, is a failed check of the certificate of the server
    at ``where``; else None. Clients wrap the :class:`ssl.SSLCertVerificationError`,
    some keep only its text.

    >>> failed = OSError(
    ...     "Error 1 connecting to h:6380. [SSL: CERTIFICATE_VERIFY_FAILED] certificate "
    ...     "verify failed: self-signed certificate in certificate chain (_ssl.c:1006)."
    ... )
    >>> print(untrusted_certificate(failed, "Redis at h", "REDIS_SSL_CA_CERTS", None))
    ... # doctest: +NORMALIZE_WHITESPACE
    Redis at h: the server's certificate is not trusted (self-signed certificate in
    certificate chain): check REDIS_SSL_CA_CERTS (unset: the system's CA bundle was used)
    >>> untrusted_certificate(OSError("connection refused"), "h", "X", None) is None
    True
    """
    seen: BaseException | None = exc
    reason = None
    while seen is not None and reason is None:
        text = str(seen)
        if isinstance(seen, ssl.SSLCertVerificationError):
            reason = str(seen.verify_message or seen)
        elif "CERTIFICATE_VERIFY_FAILED" in text:
            reason = text.rpartition("certificate verify failed: ")[2].split(" (_ssl")[0]
        seen = seen.__cause__ or seen.__context__
    if reason is None:
        return None
    given = (
        f"{setting}={cafile}" if cafile else f"{setting} (unset: the system's CA bundle was used)"
    )
    return ConfigError(
        f"{where}: the server's certificate is not trusted ({reason}): check {given}"
    )


class DataFileError(FraudstreamError):
    """A dataset file cannot be read: missing or bad columns, empty, truncated.

    The message names the file and, where known, the row (1-based line number of the
    file, the header being line 1) and the column.
    """

    exit_code = 65  # EX_DATAERR

    def __init__(
        self,
        path: str | Path,
        problem: str,
        *,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path = str(path)
        self.problem = problem
        self.row = row
        self.column = column
        where = self.path
        if row is not None:
            where += f", line {row}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {problem}")

    def __reduce__(self) -> tuple[object, ...]:
        # keep the keyword fields across pickling (errors cross process boundaries)
        return (_rebuild_data_file_error, (self.path, self.problem, self.row, self.column))


def _rebuild_data_file_error(
    path: str, problem: str, row: int | None, column: str | None
) -> DataFileError:
    return DataFileError(path, problem, row=row, column=column)


class SchemaError(FraudstreamError):
    """An event does not match the canonical schema (bad JSON, field, type or version).

    ``reason`` is a short code for counting and routing (``not_json``,
    ``missing_field``, ``wrong_type``, ...); the message says what exactly.
    """

    exit_code = 65

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (str(self), self.reason))


class DownloadError(FraudstreamError):
    """A dataset download failed or its checksum did not match."""

    exit_code = 69  # EX_UNAVAILABLE


class ServiceUnavailableError(FraudstreamError):
    """An external service (Kafka, Redis, MLflow) cannot be reached; retry later."""

    exit_code = 69


class DataValidationError(FraudstreamError):
    """A training set failed validation; ``report`` says which checks failed and why.

    >>> report = {
    ...     "ok": False,
    ...     "checks": [
    ...         {"name": "fraud_rate", "ok": False, "detail": "fraud rate 0.0 below 0.0001"}
    ...     ],
    ... }
    >>> str(DataValidationError(report))
    'training data failed validation: fraud_rate: fraud rate 0.0 below 0.0001'
    """

    exit_code = 65  # EX_DATAERR

    def __init__(self, report: dict[str, object]) -> None:
        self.report = report
        checks = report.get("checks", [])
        failed = [
            f"{c['name']}: {c['detail']}"
            for c in (checks if isinstance(checks, list) else [])
            if isinstance(c, dict) and not c.get("ok")
        ]
        super().__init__("training data failed validation: " + "; ".join(failed))

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.report,))
