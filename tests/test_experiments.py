"""Config loading, run expansion, results writing (VLAP.experiments); no training here."""

import json
import tomllib

import numpy as np
import pytest

from VLAP import experiments as ex
from VLAP.experiments import config, paper, results, runner, schema
from VLAP.losses import PAPER_LOSSES
from VLAP.evaluation import METRIC_NAMES

NAMED = ("arxiv", "posters", "reuters", "mulan_yeast", "mulan_emotions", "mulan_scene")

_TOML = """
name = "mine"
seeds = [0, 1, 2]
losses = ["sigmoidF1", "bce"]
epochs = 20
patience = 4

[dataset]
kind = "mulan"
mulan_name = "yeast"
min_count = 3

[smoke]
epochs = 2
seeds = [7]
max_rows = 50
"""


def _write(tmp_path, text, name="cfg.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_precedence_defaults_file_smoke_overrides(tmp_path):
    path = _write(tmp_path, _TOML)
    cfg = ex.load_config(path)
    assert cfg["epochs"] == 20 and cfg["seeds"] == [0, 1, 2]  # file beats defaults
    assert cfg["batch_size"] == schema.DEFAULTS["batch_size"]  # default kept
    assert cfg["losses"] == ["sigmoid_f1", "binary_crossentropy"]  # canonical names
    assert cfg["datasets"][0]["min_count"] == 3 and cfg["datasets"][0]["r"] == 44
    smoke = ex.load_config(path, smoke=True)
    assert smoke["epochs"] == 2 and smoke["seeds"] == [7]  # [smoke] beats the file
    assert smoke["datasets"][0]["max_rows"] == 50
    over = ex.load_config(path, smoke=True, overrides={
        "epochs": 5, "seeds": [3, 4], "losses": ["focal"], "dataset.min_count": 9,
        "loss_kwargs.sigmoid_f1.beta": 10.0, "data_dir": "/somewhere"})
    assert over["epochs"] == 5 and over["seeds"] == [3, 4]  # overrides beat smoke
    assert over["losses"] == ["focal"]
    assert over["datasets"][0]["min_count"] == 9
    assert over["loss_kwargs"] == {"sigmoid_f1": {"beta": 10.0}}
    assert over["data_dir"] == "/somewhere"


def test_expand_runs_is_datasets_x_losses_x_seeds():
    cfg = ex.load_config({
        "datasets": [{"kind": "synthetic", "name": "a"}, {"kind": "synthetic", "name": "b"}],
        "losses": ["sigmoidF1", "asl", "bce"], "seeds": [0, 1],
        "loss_kwargs": {"sigmoidF1": {"beta": 5.0}}})
    runs = ex.expand_runs(cfg)
    assert len(runs) == 2 * 3 * 2
    assert [(r["dataset"], r["loss"], r["seed"]) for r in runs[:3]] == [
        ("a", "sigmoid_f1", 0), ("a", "sigmoid_f1", 1), ("a", "asymmetric", 0)]
    assert runs[0]["loss_kwargs"] == {"beta": 5.0} and runs[2]["loss_kwargs"] == {}


@pytest.mark.parametrize("text,match", [
    ('losses = ["sigmoidF1", "hinge"]', "Unknown loss 'hinge'"),
    ('[loss_kwargs.nope]\nbeta = 1.0', "Unknown loss 'nope'"),
    ('[loss_kwargs.sigmoidF1]\nbetta = 1.0', "betta"),  # the loss's own option check
    ('epochs = 0', "`epochs` must be a positive integer"),
    ('batch_size = 2.5', "`batch_size` must be a positive integer"),
    ('patience = -1', "`patience` must be a positive integer"),
    ('seeds = []', "`seeds` must be a non-empty list"),
    ('seeds = [-1]', r"`seeds` must be an integer in \[0, 4294967296\)"),
    ('threshold = 2.0', "`threshold` must be a probability"),
    ('threshold = 0.0', "`threshold` must be a probability strictly between 0 and 1"),
    ('threshold = 1', "`threshold` must be a probability strictly between 0 and 1"),
    ('threshold = "0.5"', "`threshold` must be a float in"),
    ('learning_rate = -1.0', r"`learning_rate` must be in \(0"),
    ('learning_rate = "fast"', "`learning_rate` must be a number"),
    ('tuned_bce = "yes"', "`tuned_bce` must be a bool"),
    ('monitor = "loss"', "`monitor` must name a validation log"),
    ('name = ""', "`name` must not be empty"),
    ('epoch = 3', r"unknown key\(s\) \['epoch'\] \(did you mean 'epochs'\?\)"),
    ('[model]\nkind = "transformer"', r"`model.kind`.*\['mlp', 'image'\].*'transformer'"),
    ('[model]\nhidden = [64, 0]', "`model.hidden` must be a positive integer"),
    ('[model]\ndropout = 1.0', r"`model.dropout` must be in \[0, 1\)"),
    ('[model]\nwidht = 1.0', r"unknown key\(s\) in \[model\]: \['widht'\]"),
    ('[model]\nkind = "image"\nbackbone = "resnet"', r"`model.backbone`.*'small_cnn'"),
    ('[model]\nkind = "image"', "dataset 'synthetic' .* needs kind = 'mlp' in \\[model\\]"),
    ('[grid]\nbeta = [0.0]', r"`grid.beta` must be in \(0"),
    ('[grid]\neta = []', "`grid.eta` must be a non-empty list"),
    ('[grid]\nenabled = 1', "`grid.enabled` must be a bool"),
    ('[grid]\nbetas = [1.0]', r"unknown key\(s\) in \[grid\]"),
    ('[smoke]\nepoch = 1', r"in \[smoke\]: \['epoch'\] \(did you mean 'epochs'\?\)"),
])
def test_bad_values_are_named(tmp_path, text, match):
    path = _write(tmp_path, text + '\n\n[[datasets]]\nkind = "synthetic"\n')
    with pytest.raises(ex.ConfigError, match=match) as info:
        ex.load_config(path)
    assert str(info.value).startswith(f"{path}: ")  # the message names the file
    assert "\n" not in str(info.value)  # one line


@pytest.mark.parametrize("table,match", [
    ('kind = "imagenet"', r"`dataset.kind`.*'mulan'.*Received: dataset.kind='imagenet'"),
    ('kind = "mulan"', "needs `mulan_name`"),
    ('kind = "synthetic"\nsplt = [0.5, 0.5]', r"unknown key\(s\) in dataset: \['splt'\]"),
    ('kind = "synthetic"\nsplit = [0.5, 0.5]', "`dataset.split` must be 3 fractions"),
    ('kind = "synthetic"\nsplit = [0.5, 0.4, 0.4]', "`dataset.split` must sum to 1"),
    ('kind = "synthetic"\nsplit = [0.0, 0.5, 0.5]', "train fraction > 0"),
    ('kind = "synthetic"\nsplit = [1.2, -0.1, -0.1]', r"`dataset.split` must be in \[0"),
    ('kind = "synthetic"\nr = -3', r"`dataset.r` must be an integer in \[0"),
    ('kind = "synthetic"\nmin_count = 0', "`dataset.min_count` must be a positive integer"),
    ('kind = "synthetic"\nmax_rows = 10', r"`dataset.max_rows` must be an integer in \[20"),
    ('kind = "synthetic"\nn_classes = 0', "`dataset.n_classes` must be a positive integer"),
    ('kind = "synthetic"\nstandardize = "no"', "`dataset.standardize` must be a bool"),
    ('kind = "reuters"\nval_fraction = 1.0', r"`dataset.val_fraction` must be in \(0"),
    ('kind = "arxiv"\nfeatures = "bert"', r"`dataset.features`.*'tfidf', 'minilm'"),
    ('kind = "arxiv"\npaper = "imagenet"', r"`dataset.paper`.*'arXiv2020'"),
    ('kind = "arxiv"\npath = 3', "`dataset.path` must be a string"),
    ('kind = "posters"', "dataset 'posters' .* needs kind = 'image' in \\[model\\]"),
])
def test_bad_dataset_is_named(tmp_path, table, match):
    path = _write(tmp_path, f"[dataset]\n{table}\n")
    with pytest.raises(ex.ConfigError, match=match) as info:
        ex.load_config(path)
    assert str(info.value).startswith(f"{path}: ")


def test_several_datasets_are_named_by_position(tmp_path):
    path = _write(tmp_path, '[[datasets]]\nkind = "synthetic"\nname = "a"\n'
                            '[[datasets]]\nkind = "synthetic"\nname = "b"\nr = 1.5\n')
    with pytest.raises(ex.ConfigError, match="`datasets\\[1\\].r` must be an integer"):
        ex.load_config(path)
    path = _write(tmp_path, '[[datasets]]\nkind = "synthetic"\n[[datasets]]\nkind = "synthetic"\n')
    with pytest.raises(ex.ConfigError, match="two datasets named 'synthetic'"):
        ex.load_config(path)
    with pytest.raises(ex.ConfigError, match="no dataset"):
        ex.load_config({"seeds": [0]})


@pytest.mark.parametrize("overrides,named", [
    ({"threshold": 1}, "override threshold=1"),
    ({"epochs": 3, "dataset.min_count": 0}, "override dataset.min_count=0"),
    ({"losses": ["sigmoidF1", "hinge"]}, "override losses=['sigmoidF1', 'hinge']"),
    ({"loss_kwargs.sigmoidF1.betta": 2.0}, "override loss_kwargs.sigmoidF1.betta=2.0"),
    ({"model.dropout": 1.5}, "override model.dropout=1.5"),
    ({"dataset.min_cont": 5}, "override dataset.min_cont=5"),
    ({"grid.beta": [-1.0]}, "override grid.beta=[-1.0]"),
])
def test_a_bad_override_names_the_override_not_the_file(tmp_path, overrides, named):
    path = _write(tmp_path, _TOML)
    with pytest.raises(ex.ConfigError) as info:
        ex.load_config(path, overrides=overrides)
    assert str(info.value).startswith(named + ": "), str(info.value)
    assert str(path) not in str(info.value)


def test_loss_options_under_two_names_of_one_loss_are_merged(tmp_path):
    path = _write(tmp_path, _TOML + "\n[loss_kwargs.sigmoid_f1]\nbeta = 10.0\neta = 1.0\n")
    cfg = ex.load_config(path, overrides={"loss_kwargs.sigmoidF1.beta": 5.0})
    assert cfg["loss_kwargs"] == {"sigmoid_f1": {"beta": 5.0, "eta": 1.0}}


def test_an_override_can_fix_the_file_and_the_file_is_named_for_its_own_errors(tmp_path):
    path = _write(tmp_path, _TOML.replace("epochs = 20", "epochs = 0"))
    assert ex.load_config(path, overrides={"epochs": 4})["epochs"] == 4
    with pytest.raises(ex.ConfigError) as info:
        ex.load_config(path, overrides={"threshold": 0.4})
    assert str(info.value).startswith(f"{path}: `epochs`")


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="Config file not found"):
        ex.load_config(tmp_path / "absent.toml")
    with pytest.raises(ValueError, match="Unknown experiment 'no_such_thing'"):
        ex.load_config("no_such_thing")
    path = _write(tmp_path, "seeds = [0,\n")
    with pytest.raises(ValueError, match="invalid TOML"):
        ex.load_config(path)
    path.write_text('name = "x"\n', encoding="utf-16")
    with pytest.raises(ex.ConfigError, match=f"{path}: not UTF-8 text"):
        ex.load_config(path)


def test_override_of_unknown_key_is_an_error():
    with pytest.raises(ValueError, match=r"override 'epoch'.*did you mean 'epochs'"):
        ex.load_config(ex.DEMO_CONFIG, overrides={"epoch": 3})


@pytest.mark.parametrize("name", NAMED)
def test_named_configs_load_and_have_a_smoke_variant(name):
    assert name in ex.available_configs()
    cfg = ex.load_config(name)
    assert len(cfg["seeds"]) >= 3
    assert set(cfg["losses"]) == set(PAPER_LOSSES)
    assert cfg["threshold"] == 0.5 and cfg["tuned_bce"]
    smoke = ex.load_config(name, smoke=True)
    assert smoke["epochs"] <= 2 and len(smoke["seeds"]) == 1
    assert smoke["datasets"][0]["max_rows"] <= 300


def test_dump_toml_round_trips():
    cfg = ex.load_config("posters", smoke=True)
    text = config.dump_toml(cfg)
    back = tomllib.loads(text)
    assert back["seeds"] == cfg["seeds"] and back["losses"] == cfg["losses"]
    assert back["datasets"] == cfg["datasets"]
    assert back["grid"] == cfg["grid"] and back["loss_kwargs"] == cfg["loss_kwargs"]


def test_run_folders_are_never_reused(tmp_path):
    from VLAP.training.run_dir import new_run_dir

    dirs = {new_run_dir(tmp_path, runner.run_folder_name({"name": "x"})) for _ in range(5)}
    assert len(dirs) == 5 and all(d.is_dir() for d in dirs)


def _fake_rows():
    rows = []
    for loss, variant, f1, count in (("sigmoid_f1", "", 0.5, 3.0),
                                     ("binary_crossentropy", "", 0.4, 1.5),
                                     ("binary_crossentropy", "tuned", 0.45, 4.0)):
        for seed in (0, 1):
            for metric in METRIC_NAMES:
                value = {"f1_macro": f1 + 0.01 * seed, "mean_predicted_labels": count,
                         "mean_true_labels": 2.0,
                         "label_count_mae": abs(count - 2.0)}.get(metric, 0.3)
                rows.append({"dataset": "d", "loss": loss, "variant": variant,
                             "loss_kwargs": json.dumps({}), "seed": seed, "metric": metric,
                             "value": value})
    return rows


def test_markdown_bold_best_and_verdict():
    cfg = ex.load_config({"datasets": [{"kind": "synthetic", "name": "d", "paper": "arXiv2020"}],
                          "seeds": [0, 1]})
    text = ex.markdown_tables(_fake_rows(), cfg, paper.paper_comparison(_fake_rows(), cfg))
    assert "| sigmoidF1 | **0.505 ± 0.007** |" in text
    assert "BCE + tuned thresholds" in text
    bce = next(line for line in text.splitlines() if line.startswith("| BCE |"))
    assert "**0.500 ± 0.000**" in bce  # label-count MAE: lowest is best
    assert "**1.500 ± 0.000**" in bce  # mean #pred: closest to the true 2.0 is best
    assert "sigmoidF1 beats BCE on macro-F1 at 0.5: 0.505 vs 0.405" in text
    assert "microF1" in text and "0.106 / 0.106 / 0.093 / 0.096" in text  # paper numbers


def test_paper_columns_are_mapped_by_the_code_that_made_the_tables():
    """The paper's macroF1 column was made by sklearn f1_score(average="macro"): its
    cells must sit beside our f1_macro, microF1 beside f1_micro (issue 13), and the
    published numbers must agree with that reading (micro > macro in every cell)."""
    from VLAP.evaluation import PAPER_NAMING

    columns = dict(paper.PAPER_COLUMNS)
    assert columns["macroF1"] == "f1_macro" and columns["microF1"] == "f1_micro"
    assert columns["precision"] == "precision_macro"
    for name, ours in columns.items():
        if name.endswith("F1"):
            assert PAPER_NAMING[f"paper_{name}"] == ours
    order = [name for name, _ in paper.PAPER_COLUMNS]
    for table in paper.PAPER_RESULTS.values():
        for cells in table.values():
            cell = dict(zip(order, cells))
            assert cell["microF1"] > cell["macroF1"]
    # and the comparison puts our macro-F1 under the paper's macroF1
    cfg = ex.load_config({"datasets": [{"kind": "synthetic", "name": "d", "paper": "arXiv2020"}],
                          "seeds": [0, 1]})
    rows = [dict(r) for r in _fake_rows()]
    for r in rows:
        r["value"] = {"f1_weighted": 0.1, "f1_micro": 0.2, "f1_macro": 0.3,
                      "precision_macro": 0.4}.get(r["metric"], r["value"])
    line = next(l for l in paper.paper_comparison(rows, cfg) if l.startswith("| BCE |"))
    assert line.endswith("| 0.100 / 0.200 / 0.300 / 0.400 |")
    console = ex.console_table(_fake_rows(), cfg)
    assert "BCE + tuned thresholds" in console and "mAP" in console


def test_write_csv_fixed_columns(tmp_path):
    meta = {"backend": "tensorflow", "keras": "3", "VLAP": "0.1.0"}
    res = ex.RunResult("d", "focal", 3, {}, "", {}, 2, 1.0,
                       {"": _summary()}, {}, None)
    rows = results.result_rows([res], ex.load_config(ex.DEMO_CONFIG), "run", meta)
    results.write_csv(tmp_path / "r.csv", rows)
    header = (tmp_path / "r.csv").read_text().splitlines()[0]
    assert header == ",".join(results.RESULT_COLUMNS)
    back = ex.read_results(tmp_path / "r.csv")
    assert len(back) == len(METRIC_NAMES) and back[0]["seed"] == 3


def _summary():
    from VLAP.evaluation import evaluate_predictions

    y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
    s = np.array([[0.9, 0.2, 0.4], [0.6, 0.7, 0.1], [0.8, 0.3, 0.2]])
    return evaluate_predictions(y, s)


def test_a_written_config_loads_back_to_the_same_run(tmp_path):
    cfg = ex.load_config(ex.DEMO_CONFIG, smoke=True, overrides={"threshold": 0.4})
    path = _write(tmp_path, config.dump_toml(cfg), "config.toml")
    back = ex.load_config(path)
    assert {k: v for k, v in back.items() if k != "source"} == {
        **{k: v for k, v in cfg.items() if k != "source"}, "smoke_mode": False}
    # config.toml files of older runs also held the provenance keys: accepted, ignored
    old = _write(tmp_path, 'smoke_mode = true\nsource = "x.toml"\n' + path.read_text(), "old.toml")
    assert ex.load_config(old)["seeds"] == cfg["seeds"]
