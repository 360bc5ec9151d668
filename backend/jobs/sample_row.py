"""One generated sample as the workspace stores it, and as a shard's bundle carries it: a row
of ``rows.jsonl`` beside its two PNG files.

A row read back from a bundle is input from elsewhere: :meth:`SampleRow.from_json` takes a
value only when it is of the form the workspace stores (a closed list of sample kinds and
gate names, a set name fit for a folder, integer ids and seed, a bounded JSON object of
parameters), and refuses the row naming its line and field. Whether what it names exists in
the workspace, and whether its images are sound, is :mod:`backend.jobs.bundle_checks`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from backend.errors import BadInputError
from backend.gates import SCORED_WHEN_MADE, GateScore
from backend.workspace import Workspace
from backend.workspace.names import check_name
from backend.workspace.records import sample_paths

SAMPLE_KINDS = {
    "inpaint": "inpainted",
    "synthesize": "synthesized",
    "style": "styled",
}  # a bundle's run kind -> its samples' kind
# Samples a generator made from a workspace image (style, gates and review take any of these).
GENERATED_KINDS = tuple(kind for kind in SAMPLE_KINDS.values() if kind != "styled")
SEEDS = (-(2**63), 2**63 - 1)  # SQLite's integers
MAX_PARAMS_CHARS = 64 * 1024  # a row's parameters as JSON (a real row's are under 2 KB)
IDS = ("source_image_id", "mask_version_id", "parent_sample_id", "model_id", "checkpoint_id")
# What each kind of sample is made from (ids it must name) and the fingerprint of it that
# import compares with the workspace's (the guard against a bundle of another workspace).
REQUIRED = {
    "inpainted": (("source_image_id", "mask_version_id"), "source_sha256"),
    "synthesized": (("source_image_id",), "source_sha256"),  # a background image has no mask version
    "styled": (("source_image_id", "parent_sample_id"), "parent_image"),
}
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class SampleRow:
    """One sample as the workspace stores it: PNG bytes, provenance and gate scores."""

    kind: str
    set_name: str
    image_png: bytes
    mask_png: bytes
    params: dict[str, Any]
    seed: int | None = None
    source_image_id: int | None = None
    mask_version_id: int | None = None
    parent_sample_id: int | None = None
    model_id: int | None = None
    checkpoint_id: int | None = None
    gates: tuple[GateScore, ...] | None = None  # None: not scorable (no gate row is stored)
    checks: dict[str, str] = field(default_factory=dict)  # what import verifies: source/parent file hashes

    def store(self, ws: Workspace, job_id: int | None = None, files_written: bool = False) -> int:
        """Record the sample and its gate scores in one transaction; its id. ``files_written``:
        its PNGs are already at :meth:`paths` (a bundle import writes them in one batch)."""
        with ws.transaction():
            rec = ws.add_sample_png(
                self.kind,
                self.set_name,
                self.image_png,
                self.mask_png,
                source_image_id=self.source_image_id,
                mask_version_id=self.mask_version_id,
                parent_sample_id=self.parent_sample_id,
                model_id=self.model_id,
                checkpoint_id=self.checkpoint_id,
                job_id=job_id,
                seed=self.seed,
                params=self.params,
                files_written=files_written,
            )
            if self.gates is not None:
                ws.set_gates(rec.id, self.gates)
        return rec.id

    def paths(self) -> tuple[str, str]:
        return sample_paths(self.kind, self.image_png, self.mask_png)

    def pngs(self) -> tuple[bytes, bytes]:
        """The bytes of the files at :meth:`paths`."""
        return self.image_png, self.mask_png

    def identity(self) -> tuple[Any, ...]:
        """What makes two rows the same sample (an import adds a sample once)."""
        return (self.kind, *self.paths(), self.seed, self.source_image_id, self.parent_sample_id)

    def to_json(self) -> dict[str, Any]:
        image, mask = self.paths()
        return {
            "kind": self.kind,
            "set_name": self.set_name,
            "image": image,
            "mask": mask,
            "params": json.loads(json.dumps(self.params, default=str)),
            "seed": self.seed,
            "source_image_id": self.source_image_id,
            "mask_version_id": self.mask_version_id,
            "parent_sample_id": self.parent_sample_id,
            "model_id": self.model_id,
            "checkpoint_id": self.checkpoint_id,
            "checks": self.checks,
            "gates": None if self.gates is None else [[g.gate, g.value, g.threshold, g.passed] for g in self.gates],
        }

    @classmethod
    def from_json(cls, data: Any, files: Mapping[str, bytes], kind: str, where: str) -> SampleRow:
        """The row ``data`` of a bundle whose samples are of ``kind``, its PNGs from ``files``
        (the bundle's files by manifest name, already checked against their checksums); a
        :class:`BadInputError` that names ``where`` (bundle and line) and the field otherwise."""
        if not isinstance(data, dict):
            raise BadInputError(f"{where}: not a JSON object but {type(data).__name__}")

        def bad(name: str, problem: str) -> BadInputError:
            return BadInputError(f"{where}, field {name!r}: {problem}")

        if data.get("kind") != kind:
            raise bad("kind", f"{data.get('kind')!r} is not allowed here: this bundle holds {kind!r} samples only")
        try:
            set_name = check_name(data.get("set_name"), "set name")  # type: ignore[arg-type]
        except BadInputError as e:
            raise bad("set_name", str(e)) from None
        pngs = []
        for name in ("image", "mask"):
            rel = data.get(name)
            if not isinstance(rel, str) or not rel.endswith(".png") or rel not in files:
                raise bad(name, f"{rel!r} is not a PNG file listed in the bundle's manifest")
            pngs.append(files[rel])
        ids = {name: _id(data.get(name), lambda problem, n=name: bad(n, problem)) for name in IDS}
        needed, fingerprint = REQUIRED[kind]
        for name in needed:
            if ids[name] is None:
                raise bad(name, f"missing: every {kind} sample names the one it was made from")
        return cls(
            kind,
            set_name,
            pngs[0],
            pngs[1],
            _params(data.get("params"), lambda problem: bad("params", problem)),
            _seed(data.get("seed"), lambda problem: bad("seed", problem)),
            gates=_gates(data.get("gates"), lambda problem: bad("gates", problem)),
            checks=_checks(data.get("checks"), fingerprint, lambda problem: bad("checks", problem)),
            **ids,
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _id(value: Any, bad: Any) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or value < 1:
        raise bad(f"{value!r} is not a row id (a positive integer)")
    return int(value)


def _seed(value: Any, bad: Any) -> int:
    if not _is_int(value) or not SEEDS[0] <= value <= SEEDS[1]:
        raise bad(f"{value!r} is not a seed (a 64-bit integer; a shard's samples always have one)")
    return int(value)


def _params(value: Any, bad: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad(f"a JSON object of the sample's provenance was expected, not {type(value).__name__}")
    try:
        text = json.dumps(value, allow_nan=False)
    except ValueError:
        raise bad("holds NaN or Infinity, which JSON does not allow") from None
    if len(text) > MAX_PARAMS_CHARS:
        raise bad(f"{len(text):,} characters as JSON, more than the {MAX_PARAMS_CHARS:,} a sample's provenance may take")
    index = value.get("sample_index", 0)
    if not _is_int(index) or index < 0:
        raise bad(f"sample_index {index!r} is not a non-negative integer")
    if not isinstance(value.get("redraws", []), list):
        raise bad(f"redraws {value['redraws']!r} is not a list")
    return value


def _gates(value: Any, bad: Any) -> tuple[GateScore, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise bad(f"a list of [gate, value, threshold, passed] was expected, not {type(value).__name__}")
    scores = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 4):
            raise bad(f"{item!r} is not [gate, value, threshold, passed]")
        gate, score, threshold, passed = item
        if gate not in SCORED_WHEN_MADE:  # 'memorised' (the audit's) and 'adherence' (the judge's): never a bundle's to claim
            raise bad(f"{gate!r} is not a gate a generation run scores (one of {', '.join(SCORED_WHEN_MADE)})")
        for number in (score, threshold):
            if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
                raise bad(f"gate {gate}: {number!r} is not a finite number")
        if not isinstance(passed, bool):
            raise bad(f"gate {gate}: passed {passed!r} is not true or false")
        scores.append(GateScore(gate, float(score), float(threshold), passed))
    if len({s.gate for s in scores}) != len(scores):
        raise bad("a gate is scored twice")
    return tuple(scores)


def _checks(value: Any, fingerprint: str, bad: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise bad(f"missing or not a JSON object ({value!r}): a bundle's rows carry what import compares with the workspace")
    mark = value.get(fingerprint)
    if not isinstance(mark, str) or (fingerprint == "source_sha256" and not _SHA256.fullmatch(mark)):
        raise bad(f"{fingerprint} is {mark!r}: it is needed to tell this workspace's samples from another's")
    unknown = set(value) - {fingerprint}
    if unknown:
        raise bad(f"unknown entries {sorted(unknown)}")
    return {fingerprint: mark}
