"""Reading what W&B wrote for an offline run, without syncing it.

wandb 0.31 has no public reader for offline runs. Its ``run-<id>.wandb`` file is a 7-byte header
followed by 32 KiB blocks in LevelDB's log format: each record has a CRC-32 (4 bytes), a length
(2 bytes, little-endian) and a type (1 byte: full, first, middle, last); a record that does not fit
a block continues in the next. Each assembled record is a ``wandb_internal_pb2.Record`` protobuf.
Tests use this to check that the config, the metrics and the evaluation really reached W&B; the
ablation tooling can use it to read runs that were never synced.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEADER_BYTES = 7
BLOCK_BYTES = 32 * 1024
RECORD_HEADER_BYTES = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def _raw_records(data: bytes):
    """The payloads of the log's records, reassembled across blocks."""
    offset, pending = HEADER_BYTES, b""
    while offset + RECORD_HEADER_BYTES <= len(data):
        room = BLOCK_BYTES - offset % BLOCK_BYTES
        if room < RECORD_HEADER_BYTES:  # the block's tail is zero padding
            offset += room
            continue
        _, length, kind = struct.unpack("<IHB", data[offset : offset + RECORD_HEADER_BYTES])
        if length == 0 and kind == 0:  # zeros: end of the written part
            offset += room
            continue
        payload = data[offset + RECORD_HEADER_BYTES : offset + RECORD_HEADER_BYTES + length]
        offset += RECORD_HEADER_BYTES + length
        if kind == FULL:
            yield payload
        elif kind == FIRST:
            pending = payload
        elif kind == MIDDLE:
            pending += payload
        elif kind == LAST:
            yield pending + payload
            pending = b""


def _items(updates) -> dict[str, Any]:
    """``{key: value}`` of a list of config or history items (values are JSON)."""
    out: dict[str, Any] = {}
    for item in updates:
        key = item.key or ".".join(item.nested_key)
        out[key] = json.loads(item.value_json)
    return out


@dataclass
class OfflineRun:
    """What one offline run recorded: its name, group, ids, config, history rows and artifacts."""

    name: str = ""
    group: str = ""
    run_id: str = ""
    sweep_id: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    metric_steps: dict[str, str] = field(default_factory=dict)  # define_metric: metric glob -> x-axis
    artifacts: list[tuple[str, str]] = field(default_factory=list)  # (type, name) of logged artifacts

    def column(self, key: str) -> list[tuple[Any, Any]]:
        """``(frames, value)`` pairs of every history row that has ``key``."""
        return [(row.get("frames"), row[key]) for row in self.history if key in row]


def stitch_resumed(parts: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The history rows of runs that resumed one another (in the order they ran) as one run's:
    each part up to where the next one begins. A resumed run restarts from its checkpoint, a little
    before the frame where the run it resumes stopped, so every frame comes from the run that
    carried on. Rows without ``frames`` are left out.

    >>> stitch_resumed([[{"frames": 1}, {"frames": 5}, {"frames": 9}], [{"frames": 6}, {"frames": 12}]])
    [{'frames': 1}, {'frames': 5}, {'frames': 6}, {'frames': 12}]
    """
    rows: list[dict[str, Any]] = []
    for index, part in enumerate(parts):
        part = sorted((row for row in part if "frames" in row), key=lambda row: row["frames"])
        if index + 1 < len(parts):
            later = [row["frames"] for row in parts[index + 1] if "frames" in row]
            if later:
                part = [row for row in part if row["frames"] < min(later)]
        rows += part
    return rows


def read_offline_run(run_dir: str | Path) -> OfflineRun:
    """Reads ``<run_dir>/run-<id>.wandb`` (``run_dir`` is a ``wandb/offline-run-*`` directory)."""
    from wandb.proto import wandb_internal_pb2

    (path,) = Path(run_dir).glob("run-*.wandb")
    run = OfflineRun()
    for payload in _raw_records(path.read_bytes()):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.name, run.group = record.run.display_name, record.run.run_group
            run.run_id, run.sweep_id = record.run.run_id, record.run.sweep_id
            run.config.update(_items(record.run.config.update))
        elif kind == "config":
            run.config.update(_items(record.config.update))
        elif kind == "history":
            run.history.append(_items(record.history.item))
        elif kind == "artifact":
            run.artifacts.append((record.artifact.type, record.artifact.name))
        elif kind == "metric" and record.metric.step_metric:
            run.metric_steps[record.metric.glob_name or record.metric.name] = record.metric.step_metric
    return run


__all__ = ["OfflineRun", "read_offline_run", "stitch_resumed"]
