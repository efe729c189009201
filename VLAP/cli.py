"""The ``vlap`` command (also ``python -m VLAP``).

Thin: parse the arguments, merge the config (:func:`VLAP.experiments.load_config`),
run it (:func:`VLAP.experiments.run_experiment`, which calls the public
``VLAP.train`` and ``VLAP.evaluation``), print the table. Library code never
imports this module.

Commands::

    vlap demo                       # offline: generated data, all five losses
    vlap reproduce <experiment>     # a named config in experiments/ (vlap list)
    vlap run <config.toml>          # your own config
    vlap run --resume RUN_DIR       # continue an interrupted run
    vlap list                       # the named configs
    vlap predict MODEL INPUT --out predictions.csv   # a trained model on new data
    vlap cache [list | clear --all | clear NAME...]   # the feature cache

Options shared by demo/reproduce/run (they win over the config file):
``--data-dir``, ``--out``, ``--seeds``, ``--losses``, ``--epochs``, ``--smoke``,
``--grid``, ``--compare-paper``, ``--set key=value``.

Errors in a config, an override or the data print one line ``vlap: error: ...``
naming the file (or the override) and exit with status 2. Ctrl-C (SIGINT) or
SIGTERM ends a command with one line (what was interrupted, what was kept, the
command that resumes) and exit status 130 or 143; ``vlap run --resume RUN_DIR``
continues an interrupted run where it stopped (its ``run.json`` records the
state: running, interrupted, failed or done). ``vlap list``,
``--help``, ``--version`` and argument errors never import Keras or a backend.
TensorFlow's start-up log lines are not shown; a user's ``TF_CPP_MIN_LOG_LEVEL``
only filters more (``TF_CPP_MIN_LOG_LEVEL=0 vlap ...`` shows them all).
"""

import argparse
import contextlib
import json
import os
import re
import shlex
import signal
import sys
import tempfile
import time

from VLAP import __version__
from VLAP import _signals
from VLAP._extras import missing_extra
from VLAP.experiments.config import tomllib  # tomli on Python 3.10


def _int_list(text):
    try:
        return [int(x) for x in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers separated by commas, e.g. 0,1,2. Received: {text!r}") from None


def _name_list(text):
    return [x for x in text.replace(",", " ").split() if x]


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1. Received: {text!r}")
    return value


def _parse_set(items):
    """``key=value`` pairs; values are read as TOML (numbers, lists, true/false) or strings."""
    out = {}
    for item in items or ():
        if "=" not in item:
            raise ValueError(f"--set expects key=value. Received: {item!r}")
        key, _, text = item.partition("=")
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text
        out[key.strip()] = value
    return out


def _add_common(p):
    g = p.add_argument_group("overrides (win over the config file)")
    g.add_argument("--data-dir", help="root of the data (default: $VLAP_DATA_DIR or "
                   "../shared/data beside the project)")
    g.add_argument("--out", default="runs",
                   help="parent folder of the new run directory (default: ./runs)")
    g.add_argument("--seeds", type=_int_list, help="seeds, e.g. 0,1,2")
    g.add_argument("--losses", type=_name_list,
                   help="losses, e.g. sigmoidF1,bce,focal,asl,unboundedF1")
    g.add_argument("--epochs", type=_positive_int, help="maximum epochs per model")
    g.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                   help="set any config key, e.g. --set dataset.min_count=5 "
                        "--set loss_kwargs.sigmoid_f1.beta=10 (repeatable)")
    r = p.add_argument_group("what to run and write")
    r.add_argument("--smoke", action="store_true",
                   help="tiny version (few rows, 1-2 epochs, one seed) to check that it runs")
    r.add_argument("--grid", action="store_true",
                   help="also search sigmoidF1's beta x eta (paper: beta in [1, 30], "
                        "eta in [0, 2]) on the validation split")
    r.add_argument("--compare-paper", action="store_true",
                   help="add a table with the paper's published numbers beside ours")
    r.add_argument("--no-plots", action="store_true", help="do not draw the PNG figures")
    r.add_argument("-q", "--quiet", action="store_true", help="only print the results")
    r.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the interrupted run in RUN_DIR: finished models are kept, "
                        "the interrupted one continues from its last epoch, the rest train "
                        "as planned; refused if the config differs from RUN_DIR's")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="vlap", description="sigmoidF1 and baseline losses: demo and paper reproduction.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command",
                                metavar="{demo,reproduce,run,list,predict,cache}")
    demo = sub.add_parser("demo", help="offline demo on generated data (no download)")
    _add_common(demo)
    rep = sub.add_parser("reproduce", help="run a named config from experiments/")
    rep.add_argument("experiment", help="config name, e.g. mulan_yeast (see `vlap list`), or "
                                        "`beyond`: the loss study over the shipped configs")
    _add_common(rep)
    b = rep.add_argument_group("`vlap reproduce beyond` only")
    b.add_argument("--datasets", type=_name_list,
                   help="configs to study (default: all seven shipped ones)")
    b.add_argument("--candidates", type=_name_list,
                   help="candidates (default: all; see VLAP.experiments.study.CANDIDATES)")
    b.add_argument("--batch-sizes", type=_int_list,
                   help="also train bce, sigmoid_f1, f1_plus_bce and ema_f1 at these batch "
                        "sizes on each of --datasets (after their main study), e.g. "
                        "16,64,256,1024")
    b.add_argument("--skip-main", action="store_true",
                   help="with --batch-sizes: only the batch-size runs (the main study of "
                        "those datasets is already in --out)")
    run = sub.add_parser("run", help="run your own TOML config")
    run.add_argument("config", nargs="?",
                     help="path to a .toml config (with --resume: optional, the run "
                          "folder's own config.toml by default)")
    _add_common(run)
    sub.add_parser("list", help="list the named configs")
    pred = sub.add_parser(
        "predict", help="predict labels for new data with a trained model",
        description="Write one row per example: id, the predicted label names joined by the "
                    "separator, and one score column per label.")
    pred.add_argument("model", help="a run folder of `vlap run` (its best model unless --loss) "
                                    "or a .keras file")
    pred.add_argument("input", help="a CSV/TSV/JSON-lines file with the training text or image "
                                    "column, or a folder of images")
    pred.add_argument("--out", help="CSV file to write (default: standard output); written "
                                    "whole or not at all (a temporary file, then renamed), "
                                    "never over INPUT or the model, and not over an existing "
                                    "file unless --force")
    pred.add_argument("--force", action="store_true",
                      help="replace an existing --out file (never INPUT or the model)")
    pred.add_argument("--id-column",
                      help="the column of INPUT copied to the `id` column of the output "
                           "(default: a column named id, ID or Id if INPUT has one, else the "
                           "0-based data row number)")
    pred.add_argument("--encoding", help="the text encoding of INPUT, e.g. latin-1 or "
                                         "utf-16 (default: UTF-8 or what a byte-order mark "
                                         "says)")
    pred.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                      help="a bad row of INPUT (an empty text, a missing image): stop with "
                           "an error naming it (raise, the default), or leave it out and "
                           "list it on standard error (skip)")
    pred.add_argument("--loss", help="which model of the run folder, e.g. sigmoidF1 "
                                     "(<dataset>/<loss> when the run has several datasets)")
    pred.add_argument("--column", help="the input column of INPUT (default: the training one)")
    pred.add_argument("--batch-size", type=_positive_int, default=256)
    pred.add_argument("--logits", action="store_true",
                      help="also write one logit_<label> column per label (scores are "
                           "float64 sigmoids of the logits, written at full precision)")
    cache = sub.add_parser(
        "cache", help="list or clear the feature cache (MiniLM and image features)",
        description="The features that `vlap run` and `vlap reproduce` compute once and read "
                    "back (frozen MiniLM text embeddings, frozen ImageNet image features), in "
                    "$VLAP_CACHE_DIR/features (default ~/.cache/VLAP/features).")
    cache.add_argument("words", nargs="*", metavar="{list,clear} [NAME ...]",
                       help="`list` the entries (the default), or `clear` them: the NAMEs "
                            "given (as `vlap cache list` shows them) or --all")
    cache.add_argument("--all", action="store_true",
                       help="with clear: remove every entry (and unfinished writes)")
    return parser


def _cache(args):
    """`vlap cache`: list or clear the feature cache; one `vlap: error:` line and status 2
    on misuse. Imports NumPy only."""
    from VLAP import feature_cache as fc

    folder = fc.features_dir()
    args.action, args.names = (args.words[0], args.words[1:]) if args.words else ("list", [])
    try:
        if args.action not in ("list", "clear"):
            raise ValueError(f"`vlap cache` takes `list` or `clear`. Received: {args.action!r}")
        if args.action == "list" and (args.names or args.all):
            raise ValueError("`vlap cache list` takes no names and no --all; to remove "
                             "entries use `vlap cache clear NAME...` or `vlap cache clear --all`")
        if args.action == "clear" and args.all == bool(args.names):
            raise ValueError("`vlap cache clear` needs entry names or --all (not both); "
                             "`vlap cache list` shows the names")
        if args.action == "clear":
            removed = fc.clear(None if args.all else args.names)
            size = fc.format_size(sum(e.nbytes for e in removed))
            print(f"removed {len(removed)} entr{'y' if len(removed) == 1 else 'ies'} ({size}) "
                  f"from {folder}")
            return 0
    except (ValueError, OSError) as err:
        return _error(err)
    found = fc.entries()
    size = fc.format_size(sum(e.nbytes for e in found))
    if not found:
        print(f"feature cache: {folder} (empty)")
        return 0
    print(f"feature cache: {folder} ({len(found)} entr{'y' if len(found) == 1 else 'ies'}, "
          f"{size})")
    rows = [("NAME", "KIND", "SHAPE", "SIZE", "CREATED", "MADE BY")]
    for e in found:
        about = e.about
        made = " ".join(str(v) for v in (about.get("model"), about.get("sequence_length") and
                                         f"seq {about['sequence_length']}",
                                         about.get("image_size") and f"{about['image_size']}px",
                                         about.get("backend")) if v)
        rows.append((e.name, e.kind if not e.problem else "-",
                     " x ".join(map(str, e.shape)) if e.shape else "-",
                     fc.format_size(e.nbytes), e.created or "-", e.problem or made))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[5])
    return 0


def _same_file(a, b):
    """Whether paths `a` and `b` name one file (links and hard links included)."""
    from pathlib import Path

    a, b = Path(a).expanduser(), Path(b).expanduser()
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _check_out(args):
    """Refuse an `--out` that would destroy INPUT, the model or an existing file."""
    from pathlib import Path

    out, model = Path(args.out).expanduser(), Path(args.model).expanduser()
    if _same_file(out, args.input):
        raise ValueError(f"--out {args.out} is the input file; write the predictions to "
                         "another file")
    if _same_file(out, model):
        raise ValueError(f"--out {args.out} is the model; write the predictions to another "
                         "file")
    if model.is_dir() and out.exists() and out.resolve().is_relative_to(model.resolve()):
        raise ValueError(f"--out {args.out} is a file of the run folder {args.model}; write "
                         "the predictions to another file")
    if out.is_dir():
        raise ValueError(f"--out {args.out} is a folder; give a file name, e.g. "
                         f"{out / 'predictions.csv'}")
    if out.exists() and not args.force:
        raise ValueError(f"--out {args.out} exists; pass --force to replace it, or choose "
                         "another file")
    if not out.parent.is_dir():
        raise ValueError(f"--out {args.out}: the folder {out.parent} does not exist")


def _check_model_file(model):
    """A `.keras` model is a zip archive: say so, rather than Keras' "File not found"."""
    import zipfile
    from pathlib import Path

    path = Path(model).expanduser()
    if path.is_file() and not zipfile.is_zipfile(path):
        raise ValueError(f"{model} is not a Keras model file (a .keras file is a zip "
                         "archive; this one is not). Pass the .keras file or the run folder "
                         "that `vlap run` wrote.")


def _temporary_pattern(name):
    """The names of the temporary files a write to `name` uses (``.NAME.XXXXXXXX.tmp``)."""
    return re.compile(rf"\.{re.escape(name)}\.[A-Za-z0-9_]{{8}}\.tmp")


def _remove_stale_temporaries(path):
    """Remove the temporary files an earlier, killed write to `path` left beside it.

    Only regular files whose names match that write's own pattern
    (``.NAME.XXXXXXXX.tmp``, as :func:`tempfile.mkstemp` names them) are removed.
    """
    pattern = _temporary_pattern(path.name)
    for entry in os.scandir(path.parent):
        if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)


def _new_file_mode(path):
    """The mode `path` gets when written: the replaced file's, else what the umask allows."""
    with contextlib.suppress(FileNotFoundError):
        return os.stat(path).st_mode & 0o7777
    mask = os.umask(0o022)  # reading the umask means setting it: set it back at once
    os.umask(mask)
    return 0o666 & ~mask


def _write_atomically(frame, path):
    """Write `frame` as CSV to a temporary file beside `path`, then rename it to `path`:
    an interrupted write leaves the old file (or none), never half a file.

    The file gets the mode an ordinary write would give it (the umask's), or the
    replaced file's mode. The temporary file is removed on every way out (an
    error, Ctrl-C); one left by an earlier write that was killed (``kill -9``)
    is removed by this one.
    """
    from pathlib import Path

    path = Path(path).expanduser()
    _remove_stale_temporaries(path)
    mode = _new_file_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            frame.to_csv(handle, index=False)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _print_skipped(report, source):
    """List on standard error what `--on-error skip` left out (at most 20 entries)."""
    if report is None or not report.n_skipped:
        return
    what = "files" if os.path.isdir(source) else "rows"
    print(f"skipped {report.n_skipped} of {report.n_read} {what} of {source}:", file=sys.stderr)
    for s in report.skipped[:20]:
        where = s.get("where") or f"row {s['row']}"
        print(f"  {where}: {s['reason']}", file=sys.stderr)
    if report.n_skipped > 20:
        print(f"  ... {report.n_skipped - 20} more", file=sys.stderr)


def _predict(args):
    """`vlap predict`: one `vlap: error:` line and exit status 2 on bad input."""
    try:
        _check_model_file(args.model)
        if args.out:
            _check_out(args)
    except ValueError as err:
        return _error(err)
    _import_backend_quietly()
    from VLAP.inference.predict import predict

    try:
        frame = predict(args.model, args.input, batch_size=args.batch_size, loss=args.loss,
                        input_column=args.column, id_column=args.id_column,
                        encoding=args.encoding, on_error=args.on_error, logits=args.logits)
        if args.out:
            _write_atomically(frame, args.out)
    except (ValueError, TypeError, OSError) as err:
        return _error(err, command="predict")
    _print_skipped(frame.attrs.get("report"), args.input)
    if args.out:
        print(f"wrote {len(frame)} predictions to {args.out}", file=sys.stderr)
    else:
        frame.to_csv(sys.stdout, index=False)
    return 0


def _overrides(args):
    out = _parse_set(args.set)
    for key in ("seeds", "losses", "epochs"):
        value = getattr(args, key)
        if value is not None:
            out[key] = value
    if args.data_dir:
        out["data_dir"] = args.data_dir
    return out


def _import_backend_quietly():
    """Import Keras (and so the backend) with TensorFlow's start-up noise filtered
    (:func:`VLAP._quiet.import_backend_quietly`)."""
    from VLAP._quiet import import_backend_quietly

    import_backend_quietly()


#: How the command line words a loader option's advice, per command.
_ADVICE = {
    "predict": {"on_error": "Pass --on-error skip to leave such rows out (they are listed).",
                "encoding": "Pass the file's encoding, e.g. --encoding {value}."},
    "run": {"on_error": 'Set on_error = "skip" in the [dataset] table to skip such rows (they '
                        "are listed in notes.txt).",
            "encoding": 'Set the file\'s encoding in the [dataset] table, e.g. '
                        'encoding = "{value}".'},
}


def _error(err, command="run"):
    """Print ``vlap: error: <one line>``; return the exit status 2.

    A data error's advice on a loader option is worded for the command line
    (``--on-error skip``, ``on_error = "skip"``), not for Python.
    """
    text = str(err)
    option = getattr(err, "option", None)
    if option is not None and option[0] in _ADVICE[command]:
        name, value = option
        text = f"{err.problem} {_ADVICE[command][name].format(value=value)}"
    text = " ".join(text.split()) or type(err).__name__
    print(f"vlap: error: {text}", file=sys.stderr)
    return 2


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as Ctrl-C raises KeyboardInterrupt, so that
    a run stopped either way records what it kept and ends with one line."""


#: Exit status of a command stopped by a signal: 128 + the signal's number.
_EXIT_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}


@contextlib.contextmanager
def _interruptible():
    """While a command runs, SIGINT and SIGTERM raise KeyboardInterrupt (SIGTERM as
    :class:`_Terminated`); a second signal kills at once. Yields a list that holds
    the first signal's number. Handlers are restored after (``main`` may run
    inside another program, e.g. a test)."""
    received = []

    def handler(signum, frame):
        received.append(signum)
        _signals.request(signum)  # raised again at the next epoch if a library drops it
        for sig in _EXIT_STATUS:  # the clean-up runs once; a second signal kills
            signal.signal(sig, signal.SIG_DFL)
        raise (KeyboardInterrupt if signum == signal.SIGINT else _Terminated)()

    def unraisable(info):
        # the signal landed where Python drops exceptions (a gc or weakref callback, a
        # __del__): put the handler back and send the signal again, to land elsewhere
        if isinstance(info.exc_value, KeyboardInterrupt) and received:
            try:
                for sig in _EXIT_STATUS:
                    signal.signal(sig, handler)
            except ValueError:  # not the main thread
                pass
            else:
                _signals.redeliver(received.pop())
                return
        previous_hook(info)

    previous = {}
    try:
        for sig in _EXIT_STATUS:
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: leave signals alone
        pass
    previous_hook, sys.unraisablehook = sys.unraisablehook, unraisable
    try:
        yield received
    finally:
        sys.unraisablehook = previous_hook
        _signals.clear()
        for sig, old in previous.items():
            signal.signal(sig, old)


def _interrupted(err, args, received):
    """Print the one line of an interrupted command; return 130 (SIGINT) or 143 (SIGTERM)."""
    status = _EXIT_STATUS[received[0]] if received else (
        143 if isinstance(err, _Terminated) else 130)
    how = "SIGTERM" if status == 143 else "Ctrl-C"
    message = getattr(err, "message", None)
    if message:  # a run: what it kept and how to resume, from the runner
        text = message
    elif args.command == "predict":
        where = (f"{args.out} was not written (a file there is unchanged)" if args.out
                 else "the predictions on standard output are incomplete")
        text = (f"interrupted while predicting {args.input}; {where}; run the same command "
                "again to predict")
    elif getattr(args, "resume", None):
        text = f"interrupted before the resume started; {args.resume} is unchanged"
    else:
        text = "interrupted before any model was trained; nothing was kept"
    print(f"vlap: {how}: {text}", file=sys.stderr, flush=True)
    return status


def main(argv=None):
    """Entry point of ``vlap``; returns the exit status (0 ok, 2 usage/config/data error,
    130/143 interrupted by SIGINT/SIGTERM)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "cache" and not any(w.startswith("-") for w in extra):
        args.words += extra  # `vlap cache clear --all NAME`: refused by _cache, one line
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_help()
        return 2
    args.argv = list(sys.argv[1:] if argv is None else argv)
    with _interruptible() as received:
        try:
            return _command(args)
        except KeyboardInterrupt as err:
            return _interrupted(err, args, received)
        except ModuleNotFoundError as err:  # a framework of an extra: one line naming it
            better = missing_extra(err, f"`vlap {args.command}`")
            if better is None:
                raise
            return _error(better)


def _command(args):
    if args.command == "predict":
        return _predict(args)
    if args.command == "cache":
        return _cache(args)
    from VLAP.experiments import config as ex_config

    if args.command == "list":
        for name in ex_config.available_configs():
            print(name)
        return 0
    try:
        overrides = _overrides(args)
    except ValueError as err:
        return _error(err)
    if args.command == "reproduce" and args.experiment == "beyond":
        return _beyond(args, overrides)
    if args.command == "reproduce" and (getattr(args, "datasets", None) or args.candidates
                                        or args.batch_sizes or args.skip_main):
        return _error(ValueError("--datasets, --candidates, --batch-sizes and --skip-main "
                                 "belong to `vlap reproduce beyond`"))
    if args.command == "run" and args.config is None and args.resume is None:
        return _error(ValueError("`vlap run` needs a config file (vlap run CONFIG.toml), "
                                 "or --resume RUN_DIR to continue an interrupted run"))
    previous = None
    if args.resume is not None:
        from VLAP.experiments.runner import read_run_state
        from VLAP.experiments.schema import ConfigError

        try:
            previous = read_run_state(args.resume)
        except ConfigError as err:
            return _error(err)
    _import_backend_quietly()
    from VLAP import experiments as ex
    from VLAP.datasets import DataFormatError

    try:
        if args.command == "run" and args.config is None:
            from pathlib import Path

            source = Path(args.resume) / "config.toml"  # the run's own config
        else:
            source = {"demo": lambda: ex.DEMO_CONFIG, "reproduce": lambda: args.experiment,
                      "run": lambda: args.config}[args.command]()
        if args.command == "run" and not str(source).endswith(".toml"):
            from pathlib import Path

            if not Path(source).is_file():
                raise FileNotFoundError(f"Config file not found: {source!r}")
        cfg = ex.load_config(source, overrides=overrides, smoke=args.smoke)
    except (ValueError, TypeError, OSError) as err:  # ConfigError, UnicodeDecodeError, ...
        return _error(err)
    log = (lambda *a, **k: None) if args.quiet else (
        lambda msg: print(msg, file=sys.stderr, flush=True))
    t0 = time.time()
    try:
        run_dir = ex.run_experiment(cfg, out=args.out, grid=args.grid or None,
                                    compare_paper=args.compare_paper or None,
                                    plots=False if args.no_plots else None, log=log,
                                    resume=args.resume)
    except (ex.ConfigError, ex.DataError, DataFormatError, OSError) as err:
        return _error(err)
    rows = ex.read_results(run_dir / "results.csv")
    print(ex.console_table(rows, cfg))
    from VLAP.experiments.saving import shipped_console

    shipped = shipped_console(run_dir)
    if shipped:
        print("\n" + shipped)
    if args.compare_paper:
        print("\n" + "\n".join(ex.paper_comparison(rows, cfg)))
    if previous is not None and previous["state"] == "done":
        print(f"\n{run_dir} was already complete; nothing was changed")
    else:
        print(f"\nwrote {run_dir} in {time.time() - t0:.0f}s "
              "(results.csv, results.md, config.toml, versions.json, *.png)")
    return 0


def _resume_command(args, folder):
    """The command line that resumes an interrupted ``vlap reproduce beyond``."""
    argv, skip = [], False
    for item in args.argv:
        if skip:
            skip = False
        elif item == "--resume":
            skip = True
        elif not item.startswith("--resume="):
            argv.append(item)
    return "vlap " + shlex.join(argv + ["--resume", str(folder)])


def _beyond(args, overrides):
    """`vlap reproduce beyond`: the loss study, one folder per dataset under --out/beyond.

    With ``--resume FOLDER`` (the study's folder, e.g. ``runs/beyond``), the
    datasets whose study had finished (their ``run.json``) are kept; in the
    interrupted one the finished models are kept, the interrupted model continues
    from its last epoch checkpoint and the rest train as planned
    (:func:`VLAP.experiments.study.run_dataset` with ``resume=True``). The options
    must be those the folder's ``beyond.json`` records, and each dataset's config
    its ``config.toml``; a finished study is left unchanged.
    """
    from pathlib import Path

    from VLAP.experiments import study

    names = args.datasets or list(study.DATASETS)
    candidates = args.candidates or list(study.DEFAULT_CANDIDATES)
    unknown = [c for c in candidates if c not in study.CANDIDATES]
    if unknown:
        return _error(ValueError(f"unknown candidate(s) {unknown}; valid: "
                                 f"{sorted(study.CANDIDATES)}"))
    if args.skip_main and not args.batch_sizes:
        return _error(ValueError("--skip-main needs --batch-sizes"))
    out = Path(args.out) / ("beyond-smoke" if args.smoke else "beyond")
    options = {"datasets": names, "candidates": candidates, "overrides": overrides,
               "smoke": bool(args.smoke), "batch_sizes": args.batch_sizes,
               "skip_main": bool(args.skip_main)}
    if args.resume is not None:
        out = Path(args.resume)
        problem = _beyond_resume_problem(out, options)
        if problem:
            return _error(ValueError(problem))
    _import_backend_quietly()
    from VLAP import experiments as ex
    from VLAP.datasets import DataFormatError

    log = (lambda *a, **k: None) if args.quiet else (
        lambda msg: print(msg, file=sys.stderr, flush=True))
    current = None
    progress: dict = {}  # the model now training (study.run_dataset fills it in)
    try:
        cfgs = [ex.load_config(name, overrides=overrides, smoke=args.smoke) for name in names]
        for cfg in cfgs:  # every dataset's data is checked before anything trains
            for d in cfg["datasets"]:
                ex.prepare.check_data(d, cfg["data_dir"] or None)
        started = [cfg["datasets"][0]["name"] for cfg in cfgs
                   if (out / cfg["datasets"][0]["name"] / "train").is_dir()]
        if args.resume is None and started and not args.skip_main:
            raise FileExistsError(  # its beyond.json is left as it is, so it can resume
                f"{out} already holds a study of {', '.join(started)}; continue it with "
                f"--resume {out} and the options its beyond.json records, or choose "
                "another --out: a study is never overwritten")
        out.mkdir(parents=True, exist_ok=True)
        if args.resume is None:
            (out / "beyond.json").write_text(json.dumps(options, indent=2))
        t0 = time.time()
        changed = False
        for cfg in cfgs:
            name = cfg["datasets"][0]["name"]
            current = name
            if not args.skip_main:
                if args.resume is not None and (out / name / "run.json").is_file():
                    log(f"kept {out / name} (its study had finished)")
                else:
                    changed = True
                    folder = study.run_dataset(cfg, out, candidates, log=log,
                                               resume=args.resume is not None,
                                               progress=progress)
                    log(f"wrote {folder}")
            if args.batch_sizes:
                folder = out / name
                if args.resume is not None and (folder / "batch_size.json").is_file():
                    log(f"kept {folder / 'batch_size.csv'} (its runs had finished)")
                    continue
                changed = True
                chosen = study.chosen_settings(folder)
                which = [c for c in ("bce", "sigmoid_f1", "f1_plus_bce", "ema_f1")
                         if c in chosen]
                path = study.run_batch_sizes(cfg, out, args.batch_sizes, which, chosen,
                                             log=log, resume=args.resume is not None,
                                             progress=progress)
                (folder / "batch_size.json").write_text(json.dumps(
                    {"batch_sizes": args.batch_sizes, "candidates": which}))
                log(f"wrote {path}")
    except (ValueError, TypeError, OSError, ex.ConfigError, ex.DataError,
            DataFormatError) as err:
        return _error(err)
    except KeyboardInterrupt as err:
        done = sorted(p.parent.name for p in out.glob("*/run.json"))
        detail = f", {study.interrupted_detail(progress)}" if progress else ""
        setattr(err, "message", (  # read back by _interrupted(): the line a user sees
            f"interrupted while studying {current or 'the first dataset'}{detail}; kept "
                       f"the finished datasets ({', '.join(done) or 'none yet'}) in {out}; "
                       f"resume with: {_resume_command(args, out)}"))
        raise
    if not changed:
        print(f"{out} was already complete; nothing was changed")
        return 0
    print(f"wrote {out} in {time.time() - t0:.0f}s; merge with "
          "VLAP.experiments.study.collect and write the report with "
          "python -m VLAP.experiments.study_report")
    return 0


def _beyond_resume_problem(out, options):
    """Why ``--resume out`` cannot continue the study with ``options`` (or None)."""
    path = out / "beyond.json"
    if not path.is_file():
        return (f"--resume {out}: not a folder of `vlap reproduce beyond` (no beyond.json); "
                "pass the folder it wrote, e.g. runs/beyond")
    try:
        stored = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        return f"{path} is not valid JSON ({err})"
    given = json.loads(json.dumps(options))
    diffs = [f"{k}: stored {stored.get(k)!r}, given {given.get(k)!r}"
             for k in sorted(set(stored) | set(given)) if stored.get(k) != given.get(k)]
    if diffs:
        return (f"cannot resume {out}: the options differ from its beyond.json in "
                f"{'; '.join(diffs)}. Resume with the same options, or start a new study.")
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
