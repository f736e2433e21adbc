"""Recompute a saved network's accuracies from its JSON file and the raw data alone."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from mipnn_pyomo.data import DataWarning, Preprocessor, file_sha256, load_dataset, read_table_for_predict
from mipnn_pyomo.errors import DataError, MipnnError, ModelFileError
from mipnn_pyomo.network import IntegerNetwork


def preprocessor_of(network: IntegerNetwork) -> Preprocessor:
    if not isinstance(network.preprocessing, dict) or "features" not in network.preprocessing:
        raise ModelFileError("the model file has no preprocessing section, so raw rows cannot be encoded")
    try:
        prep = Preprocessor.from_dict(network.preprocessing)
    except MipnnError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ModelFileError(f"the model file's preprocessing section is malformed: {exc}") from None
    if len(prep.features) != network.n_inputs:
        raise ModelFileError(
            f"the model lists {len(prep.features)} features but its first layer takes {network.n_inputs} inputs"
        )
    return prep


def evaluate_model_file(path: str | Path, csv: str | Path | None = None,
                        test_csv: str | Path | None = None) -> dict[str, Any]:
    """Training accuracy on the rows listed in the file (and validation accuracy on its
    ``val_indices``, for a batch-trained model), test accuracy on the data set's test rows, and
    the accuracies the file records (``recorded_*``), to set beside them.

    A model trained on a CSV records the file's absolute path and SHA-256; ``csv`` / ``test_csv``
    point at the same data moved elsewhere. Data whose content differs from what the model was
    trained on is refused (the accuracies would be of other rows)."""
    try:
        return _evaluate_model_file(path, csv, test_csv)
    except MipnnError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError) as exc:  # a malformed 'training' section
        raise ModelFileError(f"the model file's training section is malformed: {exc}") from None


def _evaluate_model_file(path: str | Path, csv, test_csv) -> dict[str, Any]:
    network = IntegerNetwork.load(path)
    training = network.training or {}
    if "dataset" not in training:
        raise ModelFileError("the model file does not say which data set it was trained on (training.dataset)")
    prep = preprocessor_of(network)
    source = data_source_of(training, Path(path), csv, test_csv)
    with warnings.catch_warnings():  # the target was looked at when the model was trained
        warnings.simplefilter("ignore", DataWarning)
        dataset = load_dataset(source, decimals=prep.decimals)
    if list(dataset.preprocessor.features) != list(prep.features):
        raise ModelFileError("the model's feature list does not match its data set's features")
    if [str(c) for c in dataset.classes] != [str(c) for c in network.classes]:
        raise ModelFileError(f"the model's classes {network.classes} differ from the data set's {dataset.classes}")
    report: dict[str, Any] = {"dataset": training.get("dataset"), "n_test": int(len(dataset.y_test))}
    position = {int(r): k for k, r in enumerate(dataset.pool_rows)}
    for split in ("train", "val"):  # val: a batch-trained model's validation rows
        rows = training.get(f"{split}_indices")
        if rows:
            idx = _pool_positions(rows, position, f"{split}_indices")
            report[f"n_{split}"] = len(idx)
            report[f"{split}_accuracy"] = network.accuracy(dataset.X_pool[idx], dataset.y_pool[idx])
    report["test_accuracy"] = network.accuracy(dataset.X_test, dataset.y_test)
    for key in ("train_accuracy", "val_accuracy", "test_accuracy"):
        if isinstance(training.get(key), (int, float)) and not isinstance(training.get(key), bool):
            report[f"recorded_{key}"] = float(training[key])
    return report


def _pool_positions(rows: Any, position: dict[int, int], field: str) -> np.ndarray:
    """Positions in the pool of the data-row numbers ``rows`` (the model file's ``training.<field>``)."""
    if not isinstance(rows, list) or not all(isinstance(r, int) and not isinstance(r, bool) for r in rows):
        raise ModelFileError(f"malformed field training.{field}: must be a list of row numbers (integers)")
    try:
        return np.array([position[r] for r in rows])
    except KeyError as exc:
        raise ModelFileError(f"{field.split('_')[0]} row {exc} is not in the data set's training pool") from None


def data_source_of(training: dict[str, Any], model_path: Path, csv=None, test_csv=None) -> dict[str, Any]:
    """The model's data source with its files located: ``csv`` / ``test_csv`` if given, else the
    recorded path (a relative path of an older model: from the working directory, then from the
    model's directory). Each file's SHA-256 must equal the recorded one, if any."""
    if training["dataset"] != "csv":
        if csv is not None or test_csv is not None:
            raise DataError(f"--csv / --test-csv apply to models trained on a CSV file; this one was trained on "
                            f"{training['dataset']!r}")
        return training
    if test_csv is not None and not training.get("test_csv"):
        raise DataError("--test-csv: the model was trained with a hold-out split of its CSV (no test file); "
                        "pass only --csv")
    source = dict(training)
    for key, given, flag in (("csv", csv, "--csv"), ("test_csv", test_csv, "--test-csv")):
        if given is not None:
            source[key] = str(given)
        elif source.get(key) is not None:
            source[key] = _locate(source[key], model_path, flag)
        else:
            continue
        recorded = training.get(f"{key}_sha256")
        if recorded is not None and file_sha256(source[key]) != recorded:
            raise DataError(
                f"data file {source[key]!r} differs from the one the model was trained on (its SHA-256 is not the "
                f"recorded {str(recorded)[:12]}...): the data changed, so the model's accuracies cannot be recomputed"
            )
    return source


def _locate(recorded: Any, model_path: Path, flag: str) -> str:
    if not isinstance(recorded, str):
        raise ModelFileError(f"malformed field training.{flag[2:].replace('-', '_')}: {recorded!r} is not a path")
    candidates = [Path(recorded)]
    if not Path(recorded).is_absolute():
        candidates.append(model_path.parent / recorded)
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    raise DataError(f"the data file {recorded!r} the model was trained on is not there (moved or deleted); "
                    f"pass {flag} to point at it")


def predict_csv(model_path: str | Path, csv_path: str | Path) -> list:
    """One predicted class label per row of ``csv_path``."""
    network = IntegerNetwork.load(model_path)
    prep = preprocessor_of(network)
    df = read_table_for_predict(csv_path, prep)
    X = prep.transform(df)
    if X.shape[1] != network.n_inputs:
        raise DataError(f"the CSV encodes to {X.shape[1]} features but the model takes {network.n_inputs}")
    return [c for c in network.predict(X)]
