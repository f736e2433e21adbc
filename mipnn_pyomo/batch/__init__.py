"""Batch training: use the whole training pool by solving many small MIPs (see docs/batch.md).

    >>> from mipnn_pyomo.batch import BatchConfig, train_batched
    >>> result = train_batched(load_adult(), BatchConfig(method="local", batch_size=100), workers=2)
    >>> result.network.accuracy(dataset.X_test, dataset.y_test) == result.test_accuracy
    True
"""

from mipnn_pyomo.batch.config import ENGINES, METHODS, BatchConfig
from mipnn_pyomo.batch.runner import BatchResult, train_batched

__all__ = ["BatchConfig", "BatchResult", "ENGINES", "METHODS", "train_batched"]
