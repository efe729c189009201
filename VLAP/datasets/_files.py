"""Opening data files: compression detected by content, text decoded with care.

Every loader opens its files here, so gzip, bz2, xz and single-file zip
archives are read whatever the file is called, text is UTF-8 unless a
byte-order mark or `encoding=` says otherwise, and a truncated archive or an
undecodable byte raises a DataFormatError naming the file (never a bare
``EOFError`` or pandas error).
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import gzip
import io
import lzma
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from VLAP.datasets._common import DataFormatError, PathLike

if TYPE_CHECKING:
    import pandas as pd

#: (magic bytes, compression) in the order they are tried.
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"), (b"PK\x03\x04", "zip"))
#: Byte-order marks, longest first (UTF-32 LE starts with the UTF-16 LE mark).
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
#: Errors that a truncated or damaged compressed stream raises while being read.
_STREAM_ERRORS = (EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, gzip.BadGzipFile)


def compression_of(path: PathLike) -> str | None:
    """The compression of `path` by its first bytes: "gzip", "bz2", "xz", "zip" or None."""
    with open(path, "rb") as handle:
        head = handle.read(6)
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


def open_binary(path: PathLike) -> io.BufferedIOBase | IO[bytes]:
    """`path` opened for binary reading, decompressed whatever its name says.

    A zip archive must hold exactly one file. Read it inside :func:`reading`
    so a truncated stream raises DataFormatError naming the file.
    """
    file = Path(path)
    kind = compression_of(file)
    if kind == "gzip":
        return gzip.open(file, "rb")
    if kind == "bz2":
        return bz2.open(file, "rb")
    if kind == "xz":
        return lzma.open(file, "rb")
    if kind == "zip":
        try:
            archive = zipfile.ZipFile(file)
        except zipfile.BadZipFile as err:
            raise DataFormatError(f"{file}: damaged zip archive ({err})") from None
        members = [m for m in archive.namelist() if not m.endswith("/")]
        if len(members) != 1:
            archive.close()
            raise DataFormatError(
                f"{file}: a zip archive must hold exactly one data file; found {members[:5]}"
            )
        return archive.open(members[0])
    return open(file, "rb")


@contextlib.contextmanager
def reading(path: PathLike, encoding: str | None = None) -> Iterator[None]:
    """Turn decoding and decompression errors raised while reading into
    DataFormatError naming the file (and, for text, suggesting `encoding=`)."""
    try:
        yield
    except UnicodeDecodeError as err:
        raise DataFormatError(
            f"{path}: not valid {err.encoding} text (byte {err.start}: {err.reason}).",
            option=("encoding", "latin-1"),
            advice="Pass the file's encoding, e.g. encoding='latin-1' or encoding='utf-16'."
        ) from None
    except _STREAM_ERRORS as err:
        raise DataFormatError(
            f"{path}: the compressed data is truncated or damaged "
            f"({type(err).__name__}: {err})"
        ) from None
    except OSError as err:
        if isinstance(err, FileNotFoundError) or compression_of(path) is None:
            raise
        raise DataFormatError(
            f"{path}: the compressed data is truncated or damaged ({err})"
        ) from None


def decode(raw: bytes, path: PathLike, encoding: str | None = None) -> str:
    """Bytes to str: `encoding` if given, else the byte-order mark's, else UTF-8."""
    if encoding is None:
        encoding = next((enc for bom, enc in _BOMS if raw.startswith(bom)), "utf-8")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"Unknown `encoding`: {encoding!r}") from None
    if encoding == "utf-8" and b"\x00" in raw[:65536]:
        raise DataFormatError(
            f"{path}: NUL bytes in what should be UTF-8 text (UTF-16 without a "
            "byte-order mark?).", option=("encoding", "utf-16-le"),
            advice="Pass the file's encoding, e.g. encoding='utf-16-le'.")
    with reading(path, encoding):
        text = raw.decode(encoding)
    return text.lstrip("\ufeff")


def read_text(path: PathLike, encoding: str | None = None) -> str:
    """The whole (decompressed, decoded) text of `path`."""
    with reading(path, encoding), open_binary(path) as handle:
        raw = handle.read()
    return decode(raw, path, encoding)


def open_text(path: PathLike, encoding: str | None = None) -> io.StringIO:
    """A text handle on `path` (decompressed, decoded); iterate it inside `reading`."""
    return io.StringIO(read_text(path, encoding))


def read_csv(path: PathLike, *, sep: str = ",", encoding: str | None = None,
             skip_blank_lines: bool = True) -> pd.DataFrame:
    """A CSV/TSV file as a DataFrame of str (no NA conversion), errors naming the file.

    With ``skip_blank_lines=False`` an empty line is a row of empty cells, so
    that row numbers stay those of the file's data rows.
    """
    import pandas as pd

    text = read_text(path, encoding)
    try:
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                           skip_blank_lines=skip_blank_lines)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataFormatError(f"{path}: not a readable CSV file ({err})") from None
