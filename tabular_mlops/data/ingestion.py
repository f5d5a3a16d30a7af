"""Read a CSV robustly: compression, encoding, delimiter, header problems and missing-value tokens.

The file is read as text (every cell a string, nothing guessed by pandas), so that the schema
detection that follows sees exactly what is in the file and can say which tokens meant "missing"
and which values do not parse as their column's type.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import hashlib
import io
import lzma
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import pandas as pd

from tabular_mlops.errors import DataError

# What pandas treats as missing by default, plus "?" (UCI exports) and "missing".
DEFAULT_NA_TOKENS: tuple[str, ...] = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-NaN",
    "-nan",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
    "?",
    "missing",
)
CANDIDATE_DELIMITERS = ",;\t|"
SNIFF_BYTES = 64 * 1024
_MAGIC = {
    b"PK\x03\x04": "a ZIP archive (an Excel .xlsx workbook is one)",
    b"PAR1": "a Parquet file",
    b"\xd0\xcf\x11\xe0": "a legacy Excel/Office document",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"SQLite format 3": "an SQLite database",
}


@dataclass
class IngestionReport:
    """What was found while reading the file."""

    path: str
    encoding: str
    delimiter: str
    rows: int
    columns: int
    sha256: str = ""
    na_tokens: dict[str, dict[str, int]] = field(default_factory=dict)  # column -> token -> count
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "rows": self.rows,
            "columns": self.columns,
            "sha256": self.sha256,
            "na_tokens": self.na_tokens,
            "warnings": list(self.warnings),
        }


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Content hash of a file: a cache key, so that an edited CSV is read again."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def read_csv_text(
    path: str | Path,
    delimiter: str = "auto",
    encoding: str = "auto",
    na_values: tuple[str, ...] | list[str] = (),
    use_default_na: bool = True,
    nrows: int | None = None,
) -> tuple[pd.DataFrame, IngestionReport]:
    """Read ``path`` with every cell as a string; missing-value tokens become ``None``.

    Raises :class:`DataError` naming the file (and the column where there is one) for: a missing
    file, a binary or non-CSV file, an empty file, a header without rows, duplicated column names,
    undecodable bytes, and a delimiter that splits nothing.
    """
    path, chosen_encoding, sep, _, warnings = _sniff(path, delimiter, encoding)
    tokens = set(DEFAULT_NA_TOKENS if use_default_na else ()) | {str(v) for v in na_values}
    try:
        frame = pd.read_csv(
            path,
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding=chosen_encoding,
            nrows=nrows,
            skipinitialspace=True,
        )
    except UnicodeDecodeError as exc:
        raise DataError(
            f"File '{path}' is not valid {chosen_encoding} text ({exc.reason} at byte {exc.start}); "
            "re-save it as UTF-8 or set `encoding:` in the dataset config (e.g. latin-1)."
        ) from exc
    except pd.errors.ParserError as exc:
        raise DataError(
            f"File '{path}' could not be parsed as CSV with delimiter {sep!r}: {exc}. "
            "Check the delimiter (set `delimiter:` in the dataset config) and quoting."
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"File '{path}' is empty: it needs a header row and data rows.") from exc
    if frame.empty:
        raise DataError(f"File '{path}' has a header but no data rows.")
    frame.columns = [str(c).strip() for c in frame.columns]
    na_found: dict[str, dict[str, int]] = {}
    for column in frame.columns:
        values = frame[column].str.strip()
        is_token = values.isin(tokens)
        if is_token.any():
            counts = Counter(values[is_token])
            na_found[column] = {("<empty>" if k == "" else k): int(v) for k, v in counts.most_common()}
        frame[column] = values.where(~is_token, None)
    report = IngestionReport(
        path=str(path),
        encoding=chosen_encoding,
        delimiter=sep,
        rows=len(frame),
        columns=frame.shape[1],
        na_tokens=na_found,
        warnings=warnings,
    )
    return frame, report


def read_header(path: str | Path, delimiter: str = "auto", encoding: str = "auto") -> list[str]:
    """Column names only: a cheap check before a pipeline starts."""
    return [h.strip() for h in _sniff(path, delimiter, encoding)[3]]


def _sniff(path: str | Path, delimiter: str, encoding: str) -> tuple[Path, str, str, list[str], list[str]]:
    """The file's path, encoding, delimiter, header and encoding warnings, from its first bytes."""
    path = _existing_file(path)
    head = _read_head(path)
    _refuse_non_text(path, head)
    chosen_encoding, warnings = _choose_encoding(path, head, encoding)
    text_head = head.decode(chosen_encoding, errors="replace")
    if not text_head.strip():
        raise DataError(f"File '{path}' is empty: it needs a header row and data rows.")
    sep = _choose_delimiter(path, text_head, delimiter)
    header = next(csv.reader(io.StringIO(text_head.splitlines()[0]), delimiter=sep))
    _check_header(path, header, sep, explicit=delimiter != "auto")
    return path, chosen_encoding, sep, header, warnings


# --------------------------------------------------------------------------- helpers
def _existing_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise DataError(f"File '{path}' does not exist; check the path given with --data.")
    if not path.is_file():
        raise DataError(f"'{path}' is a directory, not a CSV file.")
    return path


def _open_binary(path: Path) -> IO[bytes]:
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    if suffix == ".bz2":
        return bz2.open(path, "rb")
    if suffix in {".xz", ".lzma"}:
        return lzma.open(path, "rb")
    if suffix == ".zip":
        archive = zipfile.ZipFile(path)
        names = [n for n in archive.namelist() if not n.endswith("/")]
        if len(names) != 1:
            raise DataError(f"ZIP file '{path}' must hold exactly one CSV file, it holds {len(names)}.")
        return archive.open(names[0])
    return open(path, "rb")


def _read_head(path: Path) -> bytes:
    try:
        with _open_binary(path) as handle:
            return handle.read(SNIFF_BYTES)
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile) as exc:
        raise DataError(f"File '{path}' could not be decompressed ({exc}); is the extension right?") from exc


def _refuse_non_text(path: Path, head: bytes) -> None:
    for magic, what in _MAGIC.items():
        if head.startswith(magic) and path.suffix.lower() != ".zip":
            raise DataError(f"File '{path}' is {what}, not a CSV text file; export the table as CSV.")
    if b"\x00" in head[:8192] and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"File '{path}' holds binary data (NUL bytes), not CSV text; export the table as CSV.")
    stripped = head.lstrip()
    if stripped.startswith((b"{", b"[")) and stripped.rstrip()[-1:] in (b"}", b"]", b","):
        raise DataError(f"File '{path}' looks like JSON, not CSV; convert it to CSV first.")
    if stripped[:5].lower() in (b"<?xml", b"<html", b"<!doc"):
        raise DataError(f"File '{path}' looks like XML/HTML, not CSV; export the table as CSV.")


def _choose_encoding(path: Path, head: bytes, encoding: str) -> tuple[str, list[str]]:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16", []
    if encoding != "auto":
        try:
            head.decode(encoding)
        except UnicodeDecodeError as exc:
            raise DataError(
                f"File '{path}' is not valid {encoding} text ({exc.reason} at byte {exc.start}); "
                "re-save it as UTF-8 or change `encoding:` in the dataset config."
            ) from exc
        except LookupError as exc:
            raise DataError(f"Unknown encoding '{encoding}' for file '{path}'.") from exc
        return encoding, []
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig", []
    try:
        _decode_whole(path, "utf-8")
        return "utf-8", []
    except UnicodeDecodeError as exc:
        detected = _detect_encoding(path)
        if detected is None:
            raise DataError(
                f"File '{path}' is not UTF-8 text ({exc.reason} at byte {exc.start}) and its encoding "
                "could not be recognised; re-save it as UTF-8 CSV or set `encoding:` in the dataset config."
            ) from exc
        return detected, [
            f"File '{path}' is not UTF-8 (invalid byte at {exc.start}); read it as {detected}. "
            f"Set `encoding: {detected}` in the dataset config to make this explicit."
        ]


def _decode_whole(path: Path, encoding: str) -> None:
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    with _open_binary(path) as handle:
        while chunk := handle.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise UnicodeDecodeError(
                    exc.encoding, exc.object, offset + exc.start, offset + exc.end, exc.reason
                ) from None
            offset += len(chunk)
        decoder.decode(b"", final=True)


def _detect_encoding(path: Path) -> str | None:
    from charset_normalizer import from_bytes

    with _open_binary(path) as handle:
        sample = handle.read(1 << 20)
    best = from_bytes(sample).best()
    if best is None or best.encoding in {"utf_8", "ascii"}:
        return "latin-1" if best is None and b"\x00" not in sample else None
    return str(best.encoding).replace("_", "-")


def _choose_delimiter(path: Path, text_head: str, delimiter: str) -> str:
    if delimiter != "auto":
        return "\t" if delimiter in {"\\t", "tab"} else delimiter
    lines = [line for line in text_head.splitlines()[:50] if line.strip()]
    if len(lines) > 1 and not text_head.endswith("\n"):
        lines = lines[:-1]  # the sample may end mid-line
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=CANDIDATE_DELIMITERS).delimiter
    except csv.Error:
        counts = {d: lines[0].count(d) for d in CANDIDATE_DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] > 0 else ","


def _check_header(path: Path, header: list[str], sep: str, explicit: bool) -> None:
    names = [h.strip() for h in header]
    if len(names) == 1:
        others = [d for d in CANDIDATE_DELIMITERS if d != sep and d in names[0]]
        if others:
            hint = "tab" if others[0] == "\t" else repr(others[0])
            how = "set `delimiter:` in the dataset config" if explicit else "pass the delimiter explicitly"
            raise DataError(
                f"File '{path}' has a single column {names[0][:60]!r} with delimiter {sep!r}: the delimiter "
                f"looks like {hint}; {how}."
            )
        raise DataError(f"File '{path}' has a single column '{names[0][:60]}': a table needs at least two.")
    duplicated = sorted({n for n in names if n and names.count(n) > 1})
    if duplicated:
        raise DataError(f"File '{path}' has duplicated column names {duplicated}; rename them so each is unique.")
