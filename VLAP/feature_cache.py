"""The feature cache: expensive features computed once, read back on later runs.

Frozen MiniLM sentence embeddings (:class:`VLAP.features.MiniLMFeaturizer`) and
frozen ImageNet CNN features (:func:`VLAP.models.extract_features`) take minutes
on a large table; a second ``vlap run`` with another loss list, seed or epoch
count would compute the same numbers again. Each result is kept as one entry,
an ``.npz`` file in :func:`features_dir` (``$VLAP_CACHE_DIR/features``, default
``~/.cache/VLAP/features``), whose name ends with a key hashing everything that
changes the numbers: the featuriser, its model and version, its settings (max
length, pooling, dtype, the Keras backend) and the inputs (a hash of the texts,
or of the image list). The batch size is not in the key: it changes the
embeddings by float rounding only.

An entry holds the features and a JSON header (what made them, their shape,
dtype and SHA-256). A damaged entry (a truncated file, another shape, a
checksum that does not match) is never read: :func:`cached` computes the
features again and replaces it. Entries are written to a temporary file in the
same folder, then renamed, so a killed run leaves no half entry (at most a
``.tmp`` file, which :func:`clear` removes and nothing reads).

TF-IDF is not cached: it is fitted on each run's training split and takes
seconds.

``vlap cache`` lists the entries; ``vlap cache clear --all`` (or ``clear NAME``)
removes them. This module imports NumPy only.
"""

import hashlib
import json
import os
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Version of the entry layout; an entry of another version is recomputed.
FORMAT = 1
_SUFFIX = ".npz"
_TMP = ".tmp"


def cache_dir():
    """The VLAP cache folder: ``$VLAP_CACHE_DIR``, else ``~/.cache/VLAP``.

    The same folder as the converted image weights
    (:func:`VLAP.models.image.efficientnet_lite.cache_dir`).
    """
    return Path(os.environ.get("VLAP_CACHE_DIR") or Path.home() / ".cache" / "VLAP")


def features_dir():
    """The folder of the feature cache entries: ``cache_dir() / "features"``."""
    return cache_dir() / "features"


def text_digest(texts):
    """SHA-256 of a list of texts, in order (each length-prefixed, so the split between
    texts counts).

    Example:
    >>> text_digest(["ab", "c"]) == text_digest(["a", "bc"])
    False
    >>> len(text_digest(["a"]))
    64
    """
    h = hashlib.sha256()
    for t in texts:
        b = str(t).encode("utf-8", "surrogatepass")
        h.update(f"{len(b)}:".encode())
        h.update(b)
    return h.hexdigest()


def entry_key(parts):
    """A short hash of `parts` (a JSON-able dict: featuriser, model, settings, inputs).

    Example:
    >>> entry_key({"a": 1, "b": 2}) == entry_key({"b": 2, "a": 1})
    True
    >>> entry_key({"a": 1}) == entry_key({"a": 2})
    False
    """
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


class DamagedEntry(ValueError):
    """A cache entry that cannot be trusted: unreadable, another shape or checksum."""


def _digest(features):
    return hashlib.sha256(np.ascontiguousarray(features).tobytes()).hexdigest()


def read_entry(path, *, rows=None, dim=None):
    """The features of a cache entry, checked; raises :class:`DamagedEntry`.

    Args:
        path: the ``.npz`` entry.
        rows: int or None. The number of rows it must have.
        dim: int or None. The number of columns (features per row) it must have.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"][()]))
            features = data["features"]
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
        raise DamagedEntry(f"cannot be read ({type(err).__name__}: {err})") from err
    if header.get("format") != FORMAT:
        raise DamagedEntry(f"format {header.get('format')!r}, expected {FORMAT}")
    shape = tuple(header.get("shape", ()))
    if features.shape != shape or str(features.dtype) != header.get("dtype"):
        raise DamagedEntry(f"holds {features.shape} {features.dtype}, its header says "
                           f"{shape} {header.get('dtype')}")
    if (rows is not None and shape[:1] != (rows,)) or (
            dim is not None and shape[1:2] != (dim,)):
        raise DamagedEntry(f"holds shape {shape}, expected ({rows}, {dim})")
    if _digest(features) != header.get("sha256"):
        raise DamagedEntry("checksum mismatch")
    return features


def write_entry(path, features, about=None):
    """Write `features` (and a header with `about`, a JSON-able dict) to `path`
    atomically: a temporary file in the same folder, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    features = np.ascontiguousarray(features)
    header = {"format": FORMAT, "shape": list(features.shape), "dtype": str(features.dtype),
              "sha256": _digest(features), "created": time.strftime("%Y-%m-%d %H:%M:%S"),
              "about": about or {}}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=_TMP, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, features=features, header=np.array(json.dumps(header)))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@dataclass
class Lookup:
    """What :func:`cached` did: read an entry (``hit``) or computed and wrote it."""

    path: Path
    hit: bool
    nbytes: int
    seconds: float
    damaged: "str | None" = None  # why an existing entry was recomputed


def cached(name, parts, compute, *, rows=None, dim=None, folder=None):
    """The features an entry holds, or ``compute()``'s, then stored as that entry.

    Args:
        name: str. The readable start of the file name (e.g. ``"minilm-256"``).
        parts: dict. Everything that changes the features (hashed into the key
            and kept in the entry's header).
        compute: callable returning the features (a NumPy array).
        rows, dim: int or None. The shape an entry must have to be read.
        folder: the cache folder; None is :func:`features_dir`.

    Returns:
        ``(features, Lookup)``.
    """
    path = Path(folder or features_dir()) / f"{name}-{entry_key(parts)}{_SUFFIX}"
    damaged = None
    t0 = time.time()
    if path.exists():
        try:
            features = read_entry(path, rows=rows, dim=dim)
            return features, Lookup(path, True, path.stat().st_size, time.time() - t0)
        except DamagedEntry as err:
            damaged = str(err)
    features = compute()
    seconds = time.time() - t0
    try:
        write_entry(path, features, parts)
        nbytes = path.stat().st_size
    except OSError as err:  # a read-only or full cache: the features are still right
        return features, Lookup(path, False, 0, seconds, damaged=f"not written: {err}")
    return features, Lookup(path, False, nbytes, seconds, damaged)


def summarize(lookups):
    """One line saying what the cache did for a list of :class:`Lookup` (e.g. the
    train, val and test splits), or "" for none.

    Example:
    >>> hit = Lookup(Path("/c/features/a.npz"), True, 3 * 2**20, 0.1)
    >>> summarize([hit, hit])
    'read from the feature cache /c/features (2 entries, 6.0 MB): no time spent computing them'
    """
    if not lookups:
        return ""
    folder = lookups[0].path.parent
    size = format_size(sum(lookup.nbytes for lookup in lookups))
    n = len(lookups)
    entries_ = f"{n} entr{'y' if n == 1 else 'ies'}, {size}"
    if all(lookup.hit for lookup in lookups):
        return (f"read from the feature cache {folder} ({entries_}): no time spent "
                "computing them")
    read = sum(lookup.hit for lookup in lookups)
    seconds = sum(lookup.seconds for lookup in lookups if not lookup.hit)
    line = (f"computed in {seconds:.0f}s and kept in the feature cache {folder} ({entries_}"
            + (f"; {read} read from it" if read else "") + "); a later run on the same "
            "data reads them (`vlap cache` lists and clears the cache)")
    damaged = [lookup.damaged for lookup in lookups if lookup.damaged]
    return line + "".join(f"; {d}" if d.startswith("not written") else
                          f"; a damaged entry was recomputed ({d})" for d in damaged)


def format_size(nbytes):
    """Bytes as a short human size.

    Example:
    >>> format_size(512), format_size(2_500_000)
    ('512 B', '2.4 MB')
    """
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1024 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024


@dataclass
class Entry:
    """One file of the cache, as :func:`entries` lists it."""

    path: Path
    nbytes: int
    about: dict
    shape: "tuple | None" = None
    created: "str | None" = None
    problem: "str | None" = None  # why it cannot be read (it would be recomputed)

    @property
    def name(self):
        return self.path.name

    @property
    def kind(self):
        return self.about.get("kind", "?")


def _header(path):
    """The header of an entry, without reading its features."""
    with zipfile.ZipFile(path) as z, z.open("header.npy") as f:
        return json.loads(str(np.lib.format.read_array(f, allow_pickle=False)[()]))


def entries(folder=None):
    """The cache entries (and unfinished temporary files), sorted by name."""
    folder = Path(folder or features_dir())
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        size = path.stat().st_size
        if path.name.endswith(_TMP):
            out.append(Entry(path, size, {}, problem="unfinished write (a killed run)"))
            continue
        if not path.name.endswith(_SUFFIX):
            continue
        try:
            header = _header(path)
            if header.get("format") != FORMAT:
                raise DamagedEntry(f"format {header.get('format')!r}")
            out.append(Entry(path, size, header.get("about", {}), tuple(header["shape"]),
                             header.get("created")))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            out.append(Entry(path, size, {}, problem=f"unreadable or older format "
                                                     f"({type(err).__name__}): recomputed on use"))
    return out


def clear(names=None, *, folder=None):
    """Remove entries: those named (file names, with or without ``.npz``), or all of
    them (and unfinished temporary files) when `names` is None.

    Returns:
        list of the removed :class:`Entry`.

    Raises:
        ValueError: a name that is not an entry of the cache.
    """
    found = entries(folder)
    if names is None:
        chosen = found
    else:
        by_name = {e.name: e for e in found}
        by_name.update({e.name[:-len(_SUFFIX)]: e for e in found if e.name.endswith(_SUFFIX)})
        unknown = [n for n in names if Path(n).name not in by_name]
        if unknown:
            raise ValueError(f"no cache entry named {unknown[0]!r} in {folder or features_dir()} "
                             "(`vlap cache list` shows the names)")
        chosen = list({by_name[Path(n).name].path: by_name[Path(n).name] for n in names}.values())
    for entry in chosen:
        entry.path.unlink(missing_ok=True)
    return chosen


__all__ = ["DamagedEntry", "Entry", "Lookup", "cache_dir", "cached", "clear", "entries",
           "entry_key", "features_dir", "format_size", "read_entry", "summarize", "text_digest",
           "write_entry"]
