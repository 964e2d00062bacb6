"""Fetch the real datasets for users with internet access.

- ``ulb`` from OpenML (dataset 1597, no credentials): the dataset description gives
  the ARFF file's URL and MD5; the file is streamed, checked, and converted to
  ``creditcard.csv`` in the Kaggle column layout.
- ``ulb`` or ``sparkov`` from Kaggle through ``kagglehub`` (the ``kaggle`` extra) with
  the user's Kaggle credentials; the files are checked by row count.

Nothing is half-written: downloads go to ``*.part`` files renamed into place only
after their check passes.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Final, Literal

import httpx

from fraudstream.errors import DownloadError

DownloadSource = Literal["openml", "kaggle"]

ULB_FILE: Final = "creditcard.csv"
ULB_HEADER: Final = ["Time", *(f"V{i}" for i in range(1, 29)), "Amount", "Class"]

#: Kaggle dataset handles and the data rows each file must have.
KAGGLE_DATASETS: Final = {
    "ulb": ("mlg-ulb/creditcardfraud", {"creditcard.csv": 284_807}),
    "sparkov": (
        "kartik2112/fraud-detection",
        {"fraudTrain.csv": 1_296_675, "fraudTest.csv": 555_719},
    ),
}
_CHUNK: Final = 1 << 20


def download_ulb_openml(
    dest: Path, *, base_url: str, dataset_id: int, timeout_s: float = 60.0
) -> Path:
    """Download ULB from OpenML into ``dest/creditcard.csv`` and return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / ULB_FILE
    arff_part = dest / f".{dataset_id}.arff.part"
    csv_part = dest / f".{ULB_FILE}.part"
    try:
        with httpx.Client(timeout=timeout_s, follow_redirects=True) as client:
            description = _describe(client, base_url, dataset_id)
            digest = _stream_to(client, description["url"], arff_part)
        expected = description.get("md5_checksum")
        if expected and digest != expected:
            raise DownloadError(
                f"checksum mismatch for {description['url']}: got md5 {digest}, "
                f"OpenML says {expected}"
            )
        rows = _arff_to_csv(arff_part, csv_part)
        if rows == 0:
            raise DownloadError(f"{description['url']} holds no data rows")
        csv_part.replace(target)
    finally:
        arff_part.unlink(missing_ok=True)
        csv_part.unlink(missing_ok=True)
    return target


def _describe(client: httpx.Client, base_url: str, dataset_id: int) -> dict[str, str]:
    url = f"{base_url.rstrip('/')}/api/v1/json/data/{dataset_id}"
    try:
        response = client.get(url)
        response.raise_for_status()
        description = response.json()["data_set_description"]
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        raise DownloadError(f"cannot read the OpenML description at {url}: {exc}") from exc
    if "url" not in description:
        raise DownloadError(f"the OpenML description at {url} names no file URL")
    return {key: str(value) for key, value in description.items()}


def _stream_to(client: httpx.Client, url: str, path: Path) -> str:
    """Stream ``url`` into ``path``; return the MD5 hex digest of what was written."""
    md5 = hashlib.md5(usedforsecurity=False)
    try:
        with client.stream("GET", url) as response, path.open("wb") as out:
            response.raise_for_status()
            for chunk in response.iter_bytes(_CHUNK):
                md5.update(chunk)
                out.write(chunk)
    except httpx.HTTPError as exc:
        raise DownloadError(f"download of {url} failed: {exc}") from exc
    return md5.hexdigest()


def _arff_rows(path: Path) -> Iterator[str]:
    """Yield the data lines of an ARFF file, after checking its attributes."""
    names: list[str] = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            stripped = line.strip()
            lowered = stripped.lower()
            if lowered.startswith("@attribute"):
                names.append(stripped.split()[1].strip("'\""))
            elif lowered.startswith("@data"):
                break
        if names != ULB_HEADER:
            raise DownloadError(f"unexpected ULB attributes in {path.name}: {names}")
        for line in lines:
            stripped = line.strip()
            if stripped and not stripped.startswith("%"):
                yield stripped


def _arff_to_csv(arff: Path, csv: Path) -> int:
    rows = 0
    with csv.open("w", encoding="utf-8") as out:
        out.write(",".join(ULB_HEADER) + "\n")
        for line in _arff_rows(arff):
            fields = [field.strip().strip("'\"") for field in line.split(",")]
            if len(fields) != len(ULB_HEADER):
                raise DownloadError(f"{arff.name}: data row {rows + 1} has {len(fields)} fields")
            out.write(",".join(fields) + "\n")
            rows += 1
    return rows


def download_kaggle(kind: Literal["ulb", "sparkov"], dest: Path) -> list[Path]:
    """Download ``kind`` from Kaggle with ``kagglehub`` and copy its files into ``dest``."""
    try:
        import kagglehub
    except ImportError as exc:
        raise DownloadError(
            "Kaggle downloads need kagglehub: run `uv sync --extra kaggle`"
        ) from exc
    handle, files = KAGGLE_DATASETS[kind]
    try:
        folder = Path(kagglehub.dataset_download(handle))
    except Exception as exc:  # kagglehub raises many unrelated types
        raise DownloadError(
            f"Kaggle download of {handle} failed: {exc} "
            "(set KAGGLE_USERNAME and KAGGLE_KEY, or ~/.kaggle/kaggle.json)"
        ) from exc
    return [
        copy_checked(folder / name, dest / name, expected_rows=rows) for name, rows in files.items()
    ]


def count_data_rows(path: Path) -> int:
    """Lines after the header, counting a last line without its newline."""
    lines, last = 0, b"\n"
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        lines += 1
    return max(lines - 1, 0)


def copy_checked(source: Path, target: Path, *, expected_rows: int) -> Path:
    """Copy a CSV file into place after checking it has ``expected_rows`` data rows."""
    if not source.is_file():
        raise DownloadError(f"the download has no file {source.name}")
    rows = count_data_rows(source)
    if rows != expected_rows:
        raise DownloadError(f"{source} has {rows} data rows, expected {expected_rows}")
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.part")
    try:
        shutil.copyfile(source, part)
        part.replace(target)
    finally:
        part.unlink(missing_ok=True)
    return target
