"""Property tests (issue 21): random JSON-lines files and random configs raise
nothing but the project's own error types."""

import csv
import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from VLAP import cli
from VLAP import experiments as ex
from VLAP.datasets import DataFormatError, load_table
from VLAP.experiments import ConfigError, DataError

#: The project's own errors: a bad file, a bad config, data that cannot be prepared.
OWN_ERRORS = (DataFormatError, ConfigError, DataError)

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 10), st.floats(allow_nan=True),
                     st.text(max_size=8), st.sampled_from(["", " ", "a|b", "NA", "train",
                                                           "test", "val", "x,y"]))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)
_keys = st.sampled_from(["text", "labels", "split", "id", "other"])
_records = st.dictionaries(_keys, _values, max_size=5)
_lines = st.one_of(
    _records.map(json.dumps),
    st.sampled_from(["", "   ", "{", "[1]", "null", "[" * 3000 + "]" * 3000, "{\"text\": }"]),
    st.text(max_size=20),
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_lines, max_size=8), on_error=st.sampled_from(["raise", "skip"]),
       split=st.booleans(), ids=st.booleans(), na=st.booleans())
def test_load_table_raises_only_its_own_errors(tmp_path, lines, on_error, split, ids, na):
    path = tmp_path / "random.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    try:
        data = load_table(path, text_column="text", label_column="labels",
                          split_column="split" if split else None,
                          id_column="id" if ids else None, on_error=on_error,
                          na_values=["NA"] if na else None)
    except DataFormatError:
        return
    except UnicodeEncodeError:  # pragma: no cover - hypothesis text with lone surrogates
        return
    assert data.report.unaccounted() == 0
    assert len(data.texts) == len(data.labels) == len(data.ids)
    assert all(isinstance(t, str) and t.strip() for t in data.texts)


# --- vlap run: small mutations around a valid config, so most examples read the table,
# prepare it and train (random invalid values stop at validation and test little).

_TEXTS = ["alpha beta", "beta gamma", "gamma delta", "délta ünïcode", "日本語 テキスト",
          "emoji 🙂 text", "NA", "N/A", "", "   ", "x,y", "a|b", "same text"]
_LABELS = ["bug", "feature", "docs", "ui", "Ünï"]
_random_row = st.fixed_dictionaries({
    "text": st.one_of(st.sampled_from(_TEXTS), st.text(min_size=1, max_size=10).filter(
        lambda t: "\n" not in t and "\r" not in t and "\x00" not in t)),
    # a list is joined with the file's separator; a string is written as it is
    "labels": st.one_of(st.lists(st.sampled_from(_LABELS), min_size=1, max_size=3, unique=True),
                        st.sampled_from(["", " ", "NA", "N/A", "bug,ui", "bug;docs", "bug|ui"])),
    "split": st.sampled_from(["train", "val", "test", "TRAIN", "", "NA"]),
    "id": st.integers(0, 9),
})
_run_settings = {
    "epochs": st.integers(1, 2),
    "patience": st.sampled_from([1, 2, False]),
    "batch_size": st.sampled_from([4, 8, 32]),
    "learning_rate": st.sampled_from(["auto", 0.01]),
    "threshold": st.sampled_from([0.1, 0.5, 0.9]),
    "monitor": st.sampled_from(["val_loss", "val_f1_macro"]),
    "losses": st.sampled_from([["bce"], ["sigmoidF1"]]),
    "save_models": st.booleans(),
}
_dataset_settings = {
    "label_separator": st.sampled_from(["|", ",", ";"]),
    "split": st.sampled_from([[0.6, 0.2, 0.2], [0.5, 0.25, 0.25], [0.8, 0.1, 0.1]]),
    "split_column": st.just("split"),
    "id_column": st.just("id"),
    "na_values": st.sampled_from([[], ["NA"], ["NA", "N/A"]]),
    "group_duplicates": st.booleans(),
    "on_error": st.sampled_from(["raise", "skip"]),
    "min_count": st.integers(1, 2),
    "max_rows": st.just(20),
}


def _write_table(path, fmt, rows, separator):
    """Write ``rows`` as CSV or JSON lines; a label list is joined with ``separator``."""
    cells = [dict(r, labels=separator.join(r["labels"]) if isinstance(r["labels"], list)
                  else r["labels"]) for r in rows]
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cells),
                        encoding="utf-8")
        return
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["text", "labels", "split", "id"])
        writer.writeheader()
        writer.writerows(cells)


_ROWS_LINE = re.compile(r"^\s*rows: read (\d+), kept (\d+), skipped (\d+)((?:, dropped \d+ "
                        r"\([^)]*\))*)")
_SPLIT_LINE = re.compile(r": (\d+)/(\d+)/(\d+) train/val/test rows, ")


@pytest.mark.slow
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(n_good=st.integers(6, 16), extra=st.lists(_random_row, max_size=10),
       fmt=st.sampled_from(["csv", "jsonl"]), file_sep=st.sampled_from(["|", "|", ",", ";"]),
       top=st.fixed_dictionaries({}, optional=_run_settings),
       dataset=st.fixed_dictionaries({}, optional=_dataset_settings))
def test_vlap_run_on_mutated_valid_configs_exits_0_or_2(tmp_path, capsys, n_good, extra, fmt,
                                                         file_sep, top, dataset):
    """`vlap run` on a valid config with random valid-typed settings and a random tiny
    table (duplicates, blanks, NA, other separators, unicode): exit 0 with results.csv
    and a data summary that adds up, or exit 2 with one `vlap: error:` line; never a
    traceback."""
    capsys.readouterr()  # the output of an earlier example that failed
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    good = [{"text": f"text {i} w{i % 4}", "labels": [["bug"], ["feature", "ui"], ["docs"]][i % 3],
             "split": ["train", "train", "val", "test"][i % 4], "id": i} for i in range(n_good)]
    rows = good + extra
    table = work / f"table.{fmt}"
    _write_table(table, fmt, rows, file_sep)
    cfg = {"name": "prop", "seeds": [0], "losses": ["bce"], "plots": False, "epochs": 1,
           "patience": 1, **top}
    body = [f"{k} = {json.dumps(v)}" for k, v in cfg.items()]
    body += ["[model]", 'kind = "mlp"', "hidden = [4]", "[dataset]", 'kind = "csv"',
             f"path = {json.dumps(str(table))}", 'text_column = "text"',
             'label_column = "labels"', "max_features = 20"]
    body += [f"{k} = {json.dumps(v)}" for k, v in dataset.items()]
    config = work / "prop.toml"
    config.write_text("\n".join(body) + "\n", encoding="utf-8")

    code = cli.main(["run", str(config), "--out", str(work / "runs")])
    out, err = capsys.readouterr()
    assert "Traceback" not in err + out
    event(f"exit {code}")  # --hypothesis-show-statistics: how many examples trained
    if code != 0:
        assert code == 2, err
        assert len([x for x in err.splitlines() if x.startswith("vlap: error:")]) == 1, err
        return
    run_dir = Path(re.search(r"^wrote (.+) in \d+s", out, re.M).group(1))
    assert (run_dir / "results.csv").is_file()
    assert ex.read_results(run_dir / "results.csv")
    # the data summary adds up: every row written is read, and kept, skipped or dropped
    counts = [_ROWS_LINE.match(x) for x in err.splitlines() if _ROWS_LINE.match(x)]
    assert len(counts) == 1, err
    read, kept, skipped = (int(g) for g in counts[0].groups()[:3])
    dropped = sum(int(n) for n in re.findall(r"dropped (\d+)", counts[0].group(4)))
    assert read == len(rows), err
    assert read == kept + skipped + dropped, err
    if dataset.get("on_error", "raise") == "raise":
        assert skipped == 0, err
    parts = _SPLIT_LINE.search(err)
    assert parts, err
    assert sum(int(n) for n in parts.groups()) == min(kept, dataset.get("max_rows", kept)), err
