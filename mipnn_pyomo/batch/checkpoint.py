"""Checkpoints: the run's whole state after a finished round (and so after every epoch), as JSON
written atomically (a temporary file in the same directory, then os.replace), so that a kill at
any moment leaves either the previous or the new checkpoint, never a torn one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mipnn_pyomo.errors import ConfigError
from mipnn_pyomo.outputs import atomic_write_text

CHECKPOINT_FORMAT = "mipnn-batch-checkpoint"
CHECKPOINT_VERSION = 1


def atomic_write_json(path: str | Path, payload: dict[str, Any]) -> None:
    """``payload`` as JSON via :func:`mipnn_pyomo.outputs.atomic_write_text` (fsync, then os.replace)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(payload))


def save_checkpoint(path: str | Path, run_key: str, config: dict, progress: dict) -> None:
    atomic_write_json(path, {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "run_key": run_key,
                             "config": config, **progress})


def load_checkpoint(path: str | Path, run_key: str) -> dict[str, Any] | None:
    """The saved progress of the same run, None if there is no file; ConfigError if the file is
    unreadable or belongs to other settings."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        payload = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"checkpoint {path} is unreadable ({exc}); delete it to start afresh") from None
    if payload.get("format") != CHECKPOINT_FORMAT or payload.get("version") != CHECKPOINT_VERSION:
        raise ConfigError(f"{path} is not a batch-training checkpoint of version {CHECKPOINT_VERSION}")
    if payload.get("run_key") != run_key:
        raise ConfigError(f"checkpoint {path} was written by a run with other settings; "
                          "use another checkpoint path or delete it to start afresh")
    return payload
