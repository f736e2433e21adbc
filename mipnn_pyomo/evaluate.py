"""Recompute a saved network's accuracies from its JSON file and the raw data alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mipnn_pyomo.data import Preprocessor, load_dataset, read_table_for_predict
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


def evaluate_model_file(path: str | Path) -> dict[str, Any]:
    """Training accuracy on the rows listed in the file and test accuracy on the data set's test rows."""
    try:
        return _evaluate_model_file(path)
    except MipnnError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError) as exc:  # a malformed 'training' section
        raise ModelFileError(f"the model file's training section is malformed: {exc}") from None


def _evaluate_model_file(path: str | Path) -> dict[str, Any]:
    network = IntegerNetwork.load(path)
    training = network.training or {}
    if "dataset" not in training:
        raise ModelFileError("the model file does not say which data set it was trained on (training.dataset)")
    prep = preprocessor_of(network)
    dataset = load_dataset(training, decimals=prep.decimals)
    if list(dataset.preprocessor.features) != list(prep.features):
        raise ModelFileError("the model's feature list does not match its data set's features")
    if [str(c) for c in dataset.classes] != [str(c) for c in network.classes]:
        raise ModelFileError(f"the model's classes {network.classes} differ from the data set's {dataset.classes}")
    report: dict[str, Any] = {"dataset": training.get("dataset"), "n_test": int(len(dataset.y_test))}
    rows = training.get("train_indices")
    if rows:
        position = {int(r): k for k, r in enumerate(dataset.pool_rows)}
        try:
            idx = np.array([position[int(r)] for r in rows])
        except KeyError as exc:
            raise ModelFileError(f"training row {exc} is not in the data set's training pool") from None
        report["n_train"] = len(idx)
        report["train_accuracy"] = network.accuracy(dataset.X_pool[idx], dataset.y_pool[idx])
    report["test_accuracy"] = network.accuracy(dataset.X_test, dataset.y_test)
    return report


def predict_csv(model_path: str | Path, csv_path: str | Path) -> list:
    """One predicted class label per row of ``csv_path``."""
    network = IntegerNetwork.load(model_path)
    prep = preprocessor_of(network)
    df = read_table_for_predict(csv_path, prep)
    X = prep.transform(df)
    if X.shape[1] != network.n_inputs:
        raise DataError(f"the CSV encodes to {X.shape[1]} features but the model takes {network.n_inputs}")
    return [c for c in network.predict(X)]
