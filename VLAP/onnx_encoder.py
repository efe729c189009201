"""Mean-pooled sentence embeddings run by ONNX Runtime on the CPU (the ``onnx`` extra).

:class:`OnnxSentenceEncoder` is the optional faster runtime of
:class:`VLAP.features.MiniLMFeaturizer` (``runtime="onnx"``): the checkpoint
folder's weights are exported once to an ONNX graph (Hugging Face
``transformers`` on torch, the mean pooling over the attention mask inside the
graph) and run with ``onnxruntime``; texts are tokenised by the folder's Hugging
Face fast tokeniser (``tokenizer.json``, Rust), sorted by token count and
embedded in batches cut to their longest row.

Tokenisation is the Hugging Face one for every text (:func:`VLAP.tokenizer.fast_tokenizer`,
shared with the Keras runtime), so the embeddings are those of a plain Hugging
Face loop (``tests/test_features.py`` checks cosine >= 0.999 on real sentences,
emoji, CJK, accents, empty and very long texts) and agree with the Keras
runtime's to float rounding.

The exported graph is kept in ``features_dir() / "onnx"`` (:mod:`VLAP.feature_cache`),
named by a key hashing the folder's weights and config, the exporter's and ONNX
Runtime's versions and :data:`EXPORT_VERSION`. After the export, ONNX Runtime's
transformer optimizer fuses the attention, LayerNorm and GELU into its CPU kernels. A SHA-256 of the graph is written beside it; a graph
whose checksum does not match (a truncated or damaged file) is exported again,
never run. The export writes a temporary file and renames it, so a killed run
leaves no half graph.

This module imports NumPy and the standard library only; ``onnxruntime`` and
``tokenizers`` are imported on first use, and torch and ``transformers`` only
to export.
"""

import hashlib
import importlib
import importlib.metadata
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from VLAP._extras import MissingExtraError, missing_message
from VLAP._quiet import progress
from VLAP.feature_cache import features_dir
from VLAP.tokenizer import fast_tokenizer

#: Bump when the export changes the graph (old exported graphs then miss).
EXPORT_VERSION = 1
#: ONNX opset of the export.
OPSET = 17
_FILES = ("config.json", "model.safetensors")


def _version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _sha256(path, chunk=1 << 22):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def export_key(folder):
    """The key of the exported graph of `folder`: a hash of its weights and config,
    the exporter's versions (torch, transformers, onnx) and :data:`EXPORT_VERSION`."""
    parts = {name: _sha256(Path(folder) / name) for name in _FILES
             if (Path(folder) / name).is_file()}
    parts.update(torch=_version("torch"), transformers=_version("transformers"),
                 onnx=_version("onnx"), onnxruntime=_version("onnxruntime"), opset=OPSET,
                 export=EXPORT_VERSION)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def _require(module, what="The ONNX runtime of the MiniLM features"):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        raise MissingExtraError(missing_message(module, what, extra="onnx")) from err


def export_onnx(folder, path):
    """Export the checkpoint `folder` to the ONNX graph `path`: inputs ``input_ids`` and
    ``attention_mask`` (int64, batch x tokens), output ``embedding`` (float32, batch x
    hidden), the mean of the last hidden states over the attention mask."""
    torch = _require("torch", "Exporting MiniLM to ONNX")
    transformers = _require("transformers", "Exporting MiniLM to ONNX")
    _require("onnx", "Exporting MiniLM to ONNX")
    import warnings

    # eager attention: the mask is an input of the graph (SDPA's mask code may drop an
    # all-ones mask while tracing)
    model = transformers.AutoModel.from_pretrained(str(folder), attn_implementation="eager"
                                                   ).eval()

    class MeanPooled(torch.nn.Module):  # type: ignore[name-defined]  # torch: a runtime import
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            seq = self.inner(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(seq.dtype)
            return (seq * m).sum(1) / m.sum(1).clamp(min=1.0)

    ids = torch.ones((2, 8), dtype=torch.int64)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0  # a padded row in the traced example
    dynamic = {0: "batch", 1: "tokens"}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python-side shape checks
        torch.onnx.export(MeanPooled(model), (ids, mask), str(path),
                          input_names=["input_ids", "attention_mask"],
                          output_names=["embedding"], opset_version=OPSET,
                          dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic,
                                        "embedding": {0: "batch"}},
                          dynamo=False)


def _fuse(folder, path):
    """Fuse the exported BERT graph's attention, LayerNorm and GELU into ONNX Runtime's
    CPU kernels (``onnxruntime.transformers.optimizer``), in place; the graph is kept
    as exported when the optimizer does not recognise it. Changes the embeddings by
    float rounding only."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model
    except ImportError:
        return
    config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    try:
        model = optimize_model(str(path), model_type="bert",
                               num_heads=int(config["num_attention_heads"]),
                               hidden_size=int(config["hidden_size"]), opt_level=1)
    except Exception:  # noqa: BLE001  # an architecture the optimizer does not know
        return
    if model.get_fused_operator_statistics().get("Attention", 0):
        model.save_model_to_file(str(path))


def onnx_model(folder, cache_dir=None):
    """The exported graph of `folder` in the cache (exported on first use, or again when
    the file is missing or its checksum does not match). Returns its path."""
    out_dir = Path(cache_dir) if cache_dir is not None else features_dir() / "onnx"
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"{Path(folder).name if Path(folder).name != 'model' else Path(folder).parent.name}"
    path = out_dir / f"{name}-{export_key(folder)}.onnx"
    check = path.with_name(path.name + ".sha256")
    if path.is_file() and check.is_file() and check.read_text().strip() == _sha256(path):
        return path
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".onnx.tmp")
    os.close(fd)
    os.chmod(tmp, 0o644)
    try:
        export_onnx(folder, tmp)
        _fuse(folder, tmp)
        digest = _sha256(tmp)
        os.replace(tmp, path)
        check.write_text(digest + "\n")
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


class OnnxSentenceEncoder:
    """A checkpoint folder's mean-pooled embeddings with ONNX Runtime (CPU), built once.

    Args:
        folder: str. A checkpoint folder in Hugging Face layout (config.json,
            model.safetensors, tokenizer.json or vocab.txt).
        sequence_length: int. Tokens kept per text (``[CLS]`` and ``[SEP]`` included).
        cache_dir: None or a folder for the exported graph (default
            ``features_dir() / "onnx"``).
        threads: None or int. ONNX Runtime's intra-op threads (None: its default,
            one per core).

    Call with a list of texts (and `batch_size`) for a float32 array
    ``(len(texts), hidden_dim)``.
    """

    def __init__(self, folder, sequence_length=256, *, cache_dir=None, threads=None):
        ort = _require("onnxruntime")
        self.folder = str(folder)
        self.sequence_length = int(sequence_length)
        self.path = onnx_model(self.folder, cache_dir)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(str(self.path), options,
                                                providers=["CPUExecutionProvider"])
        except Exception:  # a graph ORT cannot load despite its checksum: export again
            Path(self.path).unlink(missing_ok=True)
            self.path = onnx_model(self.folder, cache_dir)
            self.session = ort.InferenceSession(str(self.path), options,
                                                providers=["CPUExecutionProvider"])
        self.hidden_dim = int(self.session.get_outputs()[0].shape[-1]
                              if isinstance(self.session.get_outputs()[0].shape[-1], int)
                              else json.loads((Path(self.folder) / "config.json").read_text()
                                              )["hidden_size"])
        self.tokenizer = fast_tokenizer(self.folder, self.sequence_length,
                                        "The ONNX runtime of the MiniLM features")

    def tokenize(self, texts):
        """Token ids per text (``[CLS] ... [SEP]``, truncated, not padded)."""
        return [enc.ids for enc in self.tokenizer.encode_batch([str(t) for t in texts])]

    def embed_ids(self, ids, batch_size=32, desc="MiniLM features (onnx)"):
        """Mean-pooled embeddings of token id lists, in batches of similar length."""
        lengths = np.array([len(row) for row in ids], dtype=np.int64)
        order = np.argsort(lengths, kind="stable")
        out = np.zeros((len(ids), self.hidden_dim), dtype="float32")
        with progress(None, total=len(ids), desc=desc, unit="text") as bar:  # texts/s
            for start in range(0, len(ids), batch_size):
                idx = order[start:start + batch_size]
                width = max(1, int(lengths[idx].max()))
                token_ids = np.zeros((len(idx), width), dtype="int64")
                mask = np.zeros((len(idx), width), dtype="int64")
                for r, i in enumerate(idx):
                    token_ids[r, :lengths[i]] = ids[i]
                    mask[r, :lengths[i]] = 1
                out[idx] = self.session.run(["embedding"], {"input_ids": token_ids,
                                                            "attention_mask": mask})[0]
                bar.update(len(idx))
        return out

    def __call__(self, texts, batch_size=32):
        return self.embed_ids(self.tokenize(texts), batch_size=batch_size)


__all__ = ["EXPORT_VERSION", "OnnxSentenceEncoder", "export_key", "export_onnx", "onnx_model"]
