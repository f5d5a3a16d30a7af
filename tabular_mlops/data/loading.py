"""Read a CSV file into a DataFrame, with errors that name the file and the fix."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from tabular_mlops.errors import DataError

# Tokens pandas already treats as missing, plus the ones seen in real exports.
DEFAULT_NA_VALUES: tuple[str, ...] = ("", "NA", "N/A", "NaN", "nan", "NULL", "null", "None")


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Content hash of a file: used as a cache key so that an edited CSV is read again."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def read_header(path: str | Path) -> list[str]:
    """Column names of a CSV without reading its body (cheap check before a pipeline starts)."""
    path = _existing_file(path)
    try:
        return list(pd.read_csv(path, nrows=0).columns)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"File '{path}' is empty: it needs a header row and data rows.") from exc
    except UnicodeDecodeError as exc:
        raise DataError(
            f"File '{path}' is not UTF-8 text ({exc.reason} at byte {exc.start}); re-save it as UTF-8 CSV."
        ) from exc


def load_csv(
    path: str | Path,
    na_values: tuple[str, ...] | list[str] = (),
    drop_columns: tuple[str, ...] | list[str] = (),
    nrows: int | None = None,
) -> pd.DataFrame:
    """Read ``path`` (plain or compressed CSV) and make numeric columns float64.

    Numeric columns become float64 so that a column seen without gaps in training still accepts
    a missing value at prediction time, and the logged model signature says ``double``.
    """
    path = _existing_file(path)
    tokens = sorted(set(DEFAULT_NA_VALUES) | {str(v) for v in na_values})
    try:
        frame = pd.read_csv(path, na_values=tokens, keep_default_na=False, skipinitialspace=True, nrows=nrows)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"File '{path}' is empty: it needs a header row and data rows.") from exc
    except UnicodeDecodeError as exc:
        raise DataError(
            f"File '{path}' is not UTF-8 text ({exc.reason} at byte {exc.start}); re-save it as UTF-8 CSV."
        ) from exc
    except pd.errors.ParserError as exc:
        raise DataError(f"File '{path}' could not be parsed as CSV: {exc}") from exc
    if frame.empty:
        raise DataError(f"File '{path}' has a header but no data rows.")
    missing_drop = [c for c in drop_columns if c not in frame.columns]
    if missing_drop:
        raise DataError(
            f"File '{path}': drop_columns {missing_drop} are not columns of the file; "
            f"columns are {list(frame.columns)}."
        )
    frame = frame.drop(columns=list(drop_columns))
    for column in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[column]) and not pd.api.types.is_bool_dtype(frame[column]):
            frame[column] = frame[column].astype("float64")
    return frame


def _existing_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise DataError(f"File '{path}' does not exist; check the path given with --data.")
    if not path.is_file():
        raise DataError(f"'{path}' is a directory, not a CSV file.")
    return path
