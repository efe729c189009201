"""Sparse feature matrices, kept sparse until a model needs an array (issue 29).

TF-IDF features (:class:`VLAP.features.TfidfFeaturizer`) are mostly zeros: a
prepared text dataset (:func:`VLAP.experiments.prepare_dataset`) keeps every
split as a SciPy CSR matrix, and each is made dense only where a model takes
it (:func:`to_dense`): the training and validation splits when their datasets
are built, the test split batch by batch after training (:func:`dense_rows`).
The dense arrays are the ones the features always gave (float32, the same
numbers, in the same order), so every trained model and figure is unchanged.

NumPy only: SciPy is not imported to recognise its matrices.
"""

from collections.abc import Iterator
from typing import Any

import numpy as np


def is_sparse(x: Any) -> bool:
    """Whether `x` is a SciPy sparse matrix or array (CSR, CSC, COO, ...)."""
    return type(x).__module__.startswith("scipy.sparse") and hasattr(x, "toarray")


def to_dense(x: Any) -> Any:
    """`x` as a model takes it: a SciPy sparse matrix becomes a dense C-ordered
    float32 array with the same numbers; anything else is returned as it is.

    Example:
    >>> import scipy.sparse
    >>> to_dense(scipy.sparse.csr_matrix(np.eye(2, dtype="float32"))).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    >>> a = np.zeros((2, 3)); to_dense(a) is a
    True
    """
    if not is_sparse(x):
        return x
    return np.asarray(x.toarray(order="C"), dtype="float32")


def dense_rows(x: Any, rows: int) -> Iterator[tuple[int, Any]]:
    """`(start, block)`: `x` in consecutive blocks of `rows` rows, each made dense
    (:func:`to_dense`); a dense `x` is one block, as it is.

    Blocks of a multiple of the batch size keep every batch of a dataset built
    per block the same as one built on the whole of `x`.
    """
    if not is_sparse(x):
        yield 0, x
        return
    x = x.tocsr()  # rows sliced cheaply (a CSR matrix is itself)
    n = int(x.shape[0])
    for start in range(0, max(n, 1), max(int(rows), 1)):
        yield start, to_dense(x[start:start + rows])
