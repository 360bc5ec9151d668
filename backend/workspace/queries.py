"""The questions the views ask of a workspace, answered as small records (no SQL in the GUI).

Read-only and Qt-free, so the desktop app, the CLI and tests share one answer to "which
images are edited", "how many samples of this source are kept", "which preset did the
model use", "how long will this run take".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from backend.gates import GATES
from backend.workspace.integrity import stored_json
from backend.workspace.store import Workspace

DECISIONS = ("keep", "reject", "undecided")
DEFAULT_PRESET = "paper"
INPAINT_SPEED = "inpaint_speed"  # results kind: seconds and model evaluations of one preset's share of a run


@dataclass(frozen=True)
class ClusteringInfo:
    id: int
    k: int
    seed: int
    extractor: str
    params: dict
    sheet_path: str | None
    created_at: str


@dataclass(frozen=True)
class ModelInfo:
    id: int
    name: str
    target: str  # full | cluster | imported
    cluster: int | None
    clustering_id: int | None
    preset: str
    path: str  # model folder, relative to the workspace
    created_at: str


# -- images and clusters ---------------------------------------------------------------------
def edited_image_ids(ws: Workspace) -> set[int]:
    """Images with a mask version beyond the imported one."""
    return {r[0] for r in ws.query("SELECT DISTINCT image_id FROM mask_versions WHERE version > 0")}


def samples_made_from(ws: Workspace, image_ids: list[int]) -> int:
    """How many samples were generated from these images (e.g. before they were held out)."""
    marks = ",".join("?" * len(image_ids))
    return ws.query(f"SELECT COUNT(*) FROM samples WHERE source_image_id IN ({marks})", tuple(image_ids))[0][0]


def current_clustering(ws: Workspace) -> ClusteringInfo | None:
    cid = ws.current_clustering_id()
    if cid is None:
        return None
    r = ws.query("SELECT * FROM clusterings WHERE id = ?", (cid,))[0]
    return ClusteringInfo(
        r["id"],
        r["k"],
        r["seed"],
        r["extractor"],
        stored_json(ws.root, r["params_json"] or "{}", "clusterings", r["id"], "params_json"),
        r["sheet_path"],
        r["created_at"],
    )


def cluster_assignments(ws: Workspace) -> dict[int, int]:
    """Image id -> cluster in the current clustering (empty without one)."""
    cid = ws.current_clustering_id()
    if cid is None:
        return {}
    return {r[0]: r[1] for r in ws.query("SELECT image_id, cluster FROM cluster_assignments WHERE clustering_id = ?", (cid,))}


def cluster_sizes(ws: Workspace) -> list[tuple[int, int]]:
    """(cluster, number of images) of the current clustering, by cluster."""
    counts: dict[int, int] = {}
    for c in cluster_assignments(ws).values():
        counts[c] = counts.get(c, 0) + 1
    return sorted(counts.items())


# -- reviews -----------------------------------------------------------------------------------
def gate_failures(ws: Workspace) -> dict[int, list[str]]:
    """Sample id -> the gates it failed, in the order of ``GATES`` (only scored samples that failed one)."""
    out: dict[int, list[str]] = {}
    for sid, gate in ws.query("SELECT sample_id, gate FROM sample_gates WHERE passed = 0 ORDER BY sample_id, gate"):
        out.setdefault(sid, []).append(gate)
    return {sid: sorted(gates, key=gate_order) for sid, gates in out.items()}


def gate_order(gate: str) -> int:
    """Where a gate goes in lists and tables: the order of ``GATES``, unknown ones last."""
    return GATES.index(gate) if gate in GATES else len(GATES)


def scored_sample_ids(ws: Workspace, gates: Iterable[str] | None = None) -> set[int]:
    """Samples with a stored score (of one of ``gates``, when given)."""
    if gates is None:
        return {r[0] for r in ws.query("SELECT DISTINCT sample_id FROM sample_gates")}
    names = tuple(gates)
    sql = f"SELECT DISTINCT sample_id FROM sample_gates WHERE gate IN ({','.join('?' * len(names))})"
    return {r[0] for r in ws.query(sql, names)}


@dataclass(frozen=True)
class GateFilter:
    """Samples sorted by their gates, for the ``--only-passed`` filters (export, survey,
    segmentation sets): the ones that failed a gate are left out; unscored ones (made before
    gates existed, or not inpainted from a workspace image) are kept, and counted."""

    passed: tuple[int, ...]  # scored, passed every gate
    failed: tuple[int, ...]  # scored, failed at least one gate: left out
    unscored: tuple[int, ...]  # no scores: kept

    @property
    def kept(self) -> set[int]:
        return set(self.passed) | set(self.unscored)

    def describe(self) -> str:
        """What the filter did, in words, for a command's output or a report."""

        def n(k: int) -> str:
            return f"{k} sample{'' if k == 1 else 's'}"

        text = f"{n(len(self.failed))} that failed a quality gate left out"
        if self.unscored:
            text += f"; {n(len(self.unscored))} not scored yet included: 'diffgen gates' scores " + (
                "it" if len(self.unscored) == 1 else "them"
            )
        return text


def gate_filter(ws: Workspace, sample_ids: Iterable[int]) -> GateFilter:
    """``sample_ids`` sorted into passed / failed a gate / not scored (each in the given order)."""
    ids = list(dict.fromkeys(sample_ids))
    failed, scored = gate_failures(ws), scored_sample_ids(ws)
    return GateFilter(
        tuple(i for i in ids if i in scored and i not in failed),
        tuple(i for i in ids if i in failed),
        tuple(i for i in ids if i not in scored),
    )


@dataclass(frozen=True)
class GatePassRate:
    """One set's gate record: how many samples were scored, passed all gates, failed each."""

    set_name: str
    samples: int
    scored: int
    passed: int
    failed: dict[str, int]
    mean: dict[str, float]  # mean value of each gate over the scored samples
    thresholds: dict[str, list[float]] = field(default_factory=dict)  # the distinct ones judged by


_Scores = dict[int, list[tuple[str, float, float, bool]]]  # sample id -> (gate, value, threshold, passed)


def _gate_rows(ws: Workspace) -> dict[str, _Scores]:
    """Every stored gate score, per set and sample."""
    rows = ws.query(
        "SELECT s.set_name, g.sample_id, g.gate, g.value, g.threshold, g.passed FROM sample_gates g"
        " JOIN samples s ON s.id = g.sample_id ORDER BY g.sample_id, g.gate"
    )
    per_set: dict[str, _Scores] = {}
    for set_name, sid, gate, value, threshold, passed in rows:
        per_set.setdefault(set_name, {}).setdefault(sid, []).append((gate, value, threshold, bool(passed)))
    return per_set


def _pass_rate(name: str, samples: int, scored: _Scores) -> GatePassRate:
    failed: dict[str, int] = {}
    values: dict[str, list[float]] = {}
    thresholds: dict[str, set[float]] = {}
    for gates in scored.values():
        for gate, value, threshold, ok in gates:
            values.setdefault(gate, []).append(value)
            thresholds.setdefault(gate, set()).add(threshold)
            failed[gate] = failed.get(gate, 0) + (not ok)
    return GatePassRate(
        name,
        samples,
        len(scored),
        sum(all(g[3] for g in gs) for gs in scored.values()),
        failed,
        {g: sum(v) / len(v) for g, v in values.items()},
        {g: sorted(t) for g, t in thresholds.items()},
    )


def gate_pass_rates(ws: Workspace) -> list[GatePassRate]:
    """Per sample set, by set name."""
    totals = {r[0]: r[1] for r in ws.query("SELECT set_name, COUNT(*) FROM samples GROUP BY set_name")}
    per_set = _gate_rows(ws)
    return [_pass_rate(name, totals[name], per_set.get(name, {})) for name in sorted(totals)]


def gate_pass_rate_of(ws: Workspace, sample_ids: Iterable[int], name: str) -> GatePassRate:
    """The same record for a chosen group of samples (e.g. the ones an export wrote)."""
    ids = set(sample_ids)
    scored = {sid: g for per_sample in _gate_rows(ws).values() for sid, g in per_sample.items() if sid in ids}
    return _pass_rate(name, len(ids), scored)


def redraws_per_set(ws: Workspace) -> dict[str, tuple[int, int]]:
    """Per set: (samples that were redrawn after failing a retry gate, redraws in all), from
    each sample's provenance; sets without redraws are left out."""
    rows = ws.query(
        "SELECT set_name, COUNT(*), SUM(json_array_length(params_json, '$.redraws')) FROM samples"
        " WHERE json_array_length(params_json, '$.redraws') > 0 GROUP BY set_name"
    )
    return {name: (int(n), int(total)) for name, n, total in rows}


@dataclass(frozen=True)
class AdherenceDraws:
    """A mask-guided set's adherence gate (issue 34's goals: >= 90% pass on the first draw, <= 5%
    still fail after the redraws). A first draw is known when it was kept, or when adherence
    was a retry gate (a redraw records the gates its draw failed)."""

    scored: int  # samples with an adherence score
    first_known: int
    first_passed: int
    failed: int  # kept samples that fail it after their redraws
    redrawn: int  # samples redrawn (for any retry gate)


def adherence_draws(ws: Workspace, set_name: str) -> AdherenceDraws:
    rows = ws.query(
        "SELECT s.id, s.params_json, g.passed FROM samples s JOIN sample_gates g ON g.sample_id = s.id"
        " AND g.gate = 'adherence' WHERE s.set_name = ?",
        (set_name,),
    )
    known = passed = failed = redrawn = 0
    for sid, params_json, ok in rows:
        p = stored_json(ws.root, params_json, "samples", sid, "params_json")
        redraws = p.get("redraws") or []
        redrawn += bool(redraws)
        failed += not ok
        if not redraws:
            known, passed = known + 1, passed + bool(ok)
        elif "adherence" in p.get("retry_gates", []):
            known, passed = known + 1, passed + ("adherence" not in redraws[0]["failed"])
    return AdherenceDraws(len(rows), known, passed, failed, redrawn)


@dataclass(frozen=True)
class SeamShift:
    """A styled set's mean seam score before style (its inpainted parents) and after."""

    set_name: str
    before: float
    after: float
    samples: int


def seam_before_after(ws: Workspace) -> list[SeamShift]:
    """Per styled set, the mean seam score of the styled samples' inpainted parents and of the
    styled samples (a pooled mean hid a set that style made worse)."""
    rows = ws.query(
        "SELECT c.set_name, AVG(gp.value), AVG(gc.value), COUNT(*) FROM samples c"
        " JOIN sample_gates gc ON gc.sample_id = c.id AND gc.gate = 'seam'"
        " JOIN sample_gates gp ON gp.sample_id = c.parent_sample_id AND gp.gate = 'seam'"
        " WHERE c.kind = 'styled' GROUP BY c.set_name ORDER BY c.set_name"
    )
    return [SeamShift(str(r[0]), float(r[1]), float(r[2]), int(r[3])) for r in rows]


# -- models and presets --------------------------------------------------------------------------
def models(ws: Workspace) -> list[ModelInfo]:
    """Registered diffusion models, newest first."""
    return [
        ModelInfo(r["id"], r["name"], r["target"], r["cluster"], r["clustering_id"], r["preset"], r["path"], r["created_at"])
        for r in ws.query("SELECT * FROM models ORDER BY id DESC")
    ]


def model_preset(ws: Workspace, choice: str) -> str | None:
    """The preset of the model an inpainting run with ``model=choice`` uses: ``cluster`` (the
    current clustering's newest cluster model, else the full-set one), ``full``, a model's
    name, or a model folder (absolute or relative to the workspace). None when there is no
    such model."""
    found = models(ws)
    if choice == "cluster":
        cid = ws.current_clustering_id()
        cluster_models = [m for m in found if m.target == "cluster" and cid is not None and m.clustering_id == cid]
        if cluster_models:
            return cluster_models[0].preset
        choice = "full"
    if choice == "full":
        return next((m.preset for m in found if m.target in ("full", "imported")), None)
    rel = ws.rel(choice) if choice.startswith("/") else choice
    return next((m.preset for m in found if rel in (m.path, m.name)), None)


def sample_kinds(ws: Workspace) -> list[str]:
    """The kinds of samples the workspace holds (inpainted, styled, ...), sorted."""
    return [r[0] for r in ws.query("SELECT DISTINCT kind FROM samples ORDER BY kind")]


def default_preset(ws: Workspace) -> str:
    """The preset of the newest model (what this workspace works at), else the paper's."""
    found = models(ws)
    return found[0].preset if found else DEFAULT_PRESET


# -- estimates ---------------------------------------------------------------------------------
def seconds_per_evaluation(ws: Workspace, preset: str, device: str | None = None, kind: str = "inpaint") -> float | None:
    """Measured on the newest ``kind`` run (a generator's job kind: ``inpaint``, ``synthesize``)
    of a ``preset`` model on ``device`` ("cpu", "cuda"; None: any), whether the queue, the CLI or
    ``diffgen demo`` ran it (None: no such run yet). Each run records its speed
    (:data:`INPAINT_SPEED`) per model preset and kind: a synthesis step with the mask contrast
    runs the network on two copies of its batch, so its seconds per step are not inpainting's
    (runs recorded before the kind was: inpainting)."""
    for speed in ws.results(INPAINT_SPEED, preset, limit=50):
        if (
            (device is None or speed.get("device") == device)
            and speed.get("kind", "inpaint") == kind
            and speed.get("evaluations")
        ):
            return float(speed["seconds"]) / speed["evaluations"]
    return None
