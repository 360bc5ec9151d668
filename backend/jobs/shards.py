"""Which share of a generation run this process does: shard K of N (0-based) of the sorted
work list, given as ``K/N`` or taken from the launcher's environment.

Generation is embarrassingly parallel and every sample's seed depends only on the run seed
and the item (image or parent sample), so N processes that each take a disjoint contiguous
slice of the same sorted list make exactly the samples of one process. Light (no torch), so
job parameters can check a shard without loading the engine.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from backend.errors import BadInputError

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    index: int  # 0-based
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise BadInputError(
                f"shard {self.index}/{self.count}: use K/N with 0 <= K < N (shards count from 0, like torchrun's RANK)"
            )

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def label(self) -> str:
        """The bundle folder's suffix: ``0-of-8``."""
        return f"{self.index}-of-{self.count}"

    def take(self, items: Sequence[T]) -> list[T]:
        """This shard's contiguous slice; the N slices are disjoint, cover ``items`` and
        differ in length by at most one."""
        n = len(items)
        return list(items[self.index * n // self.count : (self.index + 1) * n // self.count])


def parse_shard(text: str) -> Shard:
    """``"K/N"`` -> Shard, with a message that says the form when it is not that."""
    parts = str(text).split("/")
    try:
        index, count = (int(p) for p in parts)
    except ValueError:
        raise BadInputError(f"--shard {text!r}: expected K/N, e.g. 0/8 (the first of 8 shards)") from None
    return Shard(index, count)


def _int(env: Mapping[str, str], key: str) -> int | None:
    value = env.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise BadInputError(f"environment variable {key}={value!r} is not an integer") from None


def shard_from_env(env: Mapping[str, str] | None = None) -> Shard | None:
    """The shard a launcher gives this process: ``torchrun`` (RANK/WORLD_SIZE), else a SLURM
    job array (task id counted from the array's first id and step, over its task count);
    None when neither launched it."""
    env = os.environ if env is None else env
    rank, world = _int(env, "RANK"), _int(env, "WORLD_SIZE")
    if rank is not None and world is not None:
        return Shard(rank, world)
    task, count = _int(env, "SLURM_ARRAY_TASK_ID"), _int(env, "SLURM_ARRAY_TASK_COUNT")
    if task is None or count is None:
        return None
    first, step = _int(env, "SLURM_ARRAY_TASK_MIN") or 0, _int(env, "SLURM_ARRAY_TASK_STEP") or 1
    return Shard((task - first) // step, count)


def local_rank_from_env(env: Mapping[str, str] | None = None) -> int | None:
    """torchrun's LOCAL_RANK (this process's GPU on its node), None outside torchrun."""
    env = os.environ if env is None else env
    return _int(env, "LOCAL_RANK") if _int(env, "WORLD_SIZE") is not None else None


class ShardedParams:
    """What the parameters of a stage that can run in shards add (as their last fields):
    ``shard`` "K/N" (None: one process, writing the workspace directly) and ``bundle``, the
    shard's bundle folder (None: ``WS/bundles/RUN-K-of-N``)."""

    shard: str | None
    bundle: str | None

    def shard_spec(self) -> Shard | None:
        return parse_shard(self.shard) if self.shard is not None else None
