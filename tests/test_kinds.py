"""The dataset-kind registry (VLAP.experiments.kinds): a kind registered in one place
is validated, located, loaded, featurised and run like the built-in ones."""

import csv
import json

import numpy as np
import pytest

from VLAP import experiments as ex
from VLAP.experiments import kinds, schema
from VLAP.experiments.prepare import check_data, data_path

#: The keys a [dataset] table accepted before the registry (the old DATASET_KEYS).
_OLD_DATASET_KEYS = {
    "name", "kind", "path", "split", "r", "min_count", "top_n", "standardize",
    "max_rows", "features", "max_features", "sequence_length", "image_size",
    "group_duplicates", "paper", "mulan_name", "n_samples", "n_features",
    "n_classes", "n_labels", "length", "random_state", "val_fraction", "embed_batch_size",
    "text_column", "image_column", "label_column", "label_separator", "label_columns",
    "split_column", "format", "encoding", "on_error", "id_column", "na_values",
} | {"runtime"}  # added since: MiniLM's runtime (issue 29)


def test_builtin_kinds_keep_their_names_and_keys():
    assert kinds.dataset_kinds() == ("synthetic", "mulan", "reuters", "arxiv", "posters", "csv")
    assert schema.dataset_keys() == _OLD_DATASET_KEYS
    assert schema.DATASET_KEYS == _OLD_DATASET_KEYS  # the old name still reads the registry
    assert schema.smoke_keys() == schema.SMOKE_RUN_KEYS | (_OLD_DATASET_KEYS - {"name"})


def test_unknown_kind_lists_the_registered_ones_and_the_closest(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[dataset]\nkind = "csvv"\npath = "x.csv"\n')
    with pytest.raises(ex.ConfigError) as info:
        ex.load_config(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: ")
    for name in kinds.dataset_kinds():
        assert repr(name) in msg
    assert msg.endswith("Received: dataset.kind='csvv' (did you mean 'csv'?)")


# --- a toy kind, registered here and only here ---------------------------------------

class _Report:
    def __init__(self, n_read, n_kept):
        self.n_read, self.n_kept, self.n_skipped = n_read, n_kept, n_read - n_kept
        self.dropped, self.notes = {}, []


def _validate_toy(d, where, checks):
    checks.require(isinstance(d.get("scale"), (int, float)) and d["scale"] > 0,
                   "datasets.scale", f"`{where}.scale` must be a number > 0. "
                   f"Received: {d.get('scale')!r}")


def _load_toy(d, path):
    """Rows of a JSON file ``{"rows": [[x0, x1, "a|b"], ...]}``; blank label rows skipped."""
    rows = json.loads(path.read_text())["rows"]
    kept = [r for r in rows if r[2]]
    x = np.array([r[:2] for r in kept], dtype="float32") * d["scale"]
    return kinds.Loaded(x, [r[2].split("|") for r in kept], report=_Report(len(rows), len(kept)),
                        notes=[f"toy: {len(kept)} of {len(rows)} rows"])


@pytest.fixture
def toy_kind():
    kinds.register_kind("toy", keys={"scale"}, defaults={"scale": 2.0},
                        default_path="toy/toy.json", validate=_validate_toy)(_load_toy)
    try:
        yield kinds.get_kind("toy")
    finally:
        kinds.unregister_kind("toy")
    assert "toy" not in kinds.dataset_kinds()


def _toy_rows(n=40):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        a, b = rng.normal(size=2)
        labels = "|".join(n for n, on in (("pos", a > 0), ("big", b > 0)) if on) or "none"
        rows.append([float(a), float(b), labels])
    rows.append([0.0, 0.0, ""])  # skipped by the loader
    return rows


_TOY_TOML = """name = "toy-run"
seeds = [0]
losses = ["sigmoidF1"]
epochs = 1
patience = false
batch_size = 16
plots = false
save_models = false
tuned_bce = false
[model]
kind = "mlp"
hidden = [4]
[dataset]
kind = "toy"
"""


def test_a_kind_registered_in_one_place_loads_prepares_and_runs(tmp_path, toy_kind):
    cfg_path = tmp_path / "toy.toml"
    cfg_path.write_text(_TOY_TOML)
    cfg = ex.load_config(cfg_path)
    d = cfg["datasets"][0]
    assert (d["name"], d["scale"], d["split"]) == ("toy", 2.0, [0.6, 0.2, 0.2])  # defaults

    # the data path rule and the missing-data check come from the registration
    assert data_path(d, tmp_path) == (tmp_path, tmp_path / "toy" / "toy.json")
    with pytest.raises(FileNotFoundError, match=r"dataset 'toy' \(toy\): .*toy\.json not found "
                                                r"\(data root: "):
        check_data(d, tmp_path)
    (tmp_path / "toy").mkdir()
    rows = _toy_rows()
    (tmp_path / "toy" / "toy.json").write_text(json.dumps({"rows": rows}))
    check_data(d, tmp_path)

    prep = ex.prepare_dataset(d, tmp_path)
    assert len(prep.y_train) + len(prep.y_val) + len(prep.y_test) == 40
    assert set(prep.label_names) <= {"pos", "big", "none"}
    assert prep.facts[0] == "rows: read 41, kept 40, skipped 1"
    assert "toy: 40 of 41 rows" in prep.notes
    assert type(prep.featurizer).__name__ == "Standardizer"  # the default featuriser
    assert abs(float(prep.x_train.mean())) < 1e-5  # standardised on train

    run_dir = ex.run_experiment(cfg, tmp_path / "runs", data_dir=tmp_path, log=lambda m: None)
    with open(run_dir / "results.csv") as f:
        results = list(csv.DictReader(f))
    assert results and {(r["dataset"], r["loss"]) for r in results} == {("toy", "sigmoid_f1")}


def test_a_registered_kind_checks_its_own_keys(tmp_path, toy_kind):
    path = tmp_path / "toy.toml"
    path.write_text(_TOY_TOML + "scale = -1\n")
    with pytest.raises(ex.ConfigError, match=r"`dataset.scale` must be a number > 0. "
                                             r"Received: -1"):
        ex.load_config(path)


def test_an_unregistered_kind_and_its_keys_are_refused(tmp_path):
    path = tmp_path / "toy.toml"
    path.write_text(_TOY_TOML + "scale = 1.0\n")
    with pytest.raises(ex.ConfigError, match=r"unknown key\(s\) in dataset: \['scale'\]"):
        ex.load_config(path)


def test_registering_twice_or_a_common_key_is_refused(toy_kind):
    with pytest.raises(ValueError, match="'toy' is already registered"):
        kinds.register_kind("toy")(_load_toy)
    with pytest.raises(ValueError, match=r"keys \['split'\] are common to every kind"):
        kinds.DatasetKind("toy2", _load_toy, keys={"split"})
    with pytest.raises(ValueError, match=r"defaults for keys it does not accept: \['sclae'\]"):
        kinds.DatasetKind("toy2", _load_toy, keys={"scale"}, defaults={"sclae": 1})
    assert "toy2" not in kinds.dataset_kinds()
