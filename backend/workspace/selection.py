"""Which images a job works on: one rule for every stage, the CLI and the GUI.

Images named by id are used as named (the user chose them, flagged or not); a cluster or
"all" leaves out images flagged as problematic. Naming nothing is an error that lists the
choices, so that no stage quietly falls back to every image.

Held-out test images (role ``test``) never feed generation: clustering, training,
inpainting, style, the Real set of FID and surveys see only training-role images
(:func:`generation_images`), and naming a test image for one of them is an error
(:func:`refuse_held_out`). Mask editing and mask operations may use them
(``allow_test=True``): a test image's mask is what segmentation is scored against.

Background images (role ``background``: frames without polyps, no mask) feed mask-guided
synthesis only (:func:`background_images`, ``allow_background=True``); no other stage takes
them, and naming one for another stage is an error that says why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backend.errors import DiffGenError
from backend.workspace.roles import BACKGROUND, TEST, TRAIN

if TYPE_CHECKING:
    from backend.workspace.records import ImageRecord, SampleRecord
    from backend.workspace.store import Workspace

CHOOSE = "choose images: --images IDS, --cluster K or --all"
GENERATION_ROLE = f"role = '{TRAIN}'"  # the SQL condition on images that may feed generation


def generation_images(ws: Workspace, where: str = "") -> list[ImageRecord]:
    """The training-role images (matching ``where``): all that any generation stage may use."""
    return ws.images(f"{GENERATION_ROLE} AND ({where})" if where else GENERATION_ROLE)


def background_images(ws: Workspace) -> list[ImageRecord]:
    """The unflagged background-role images (frames without polyps): what ``diffgen synthesize
    --backgrounds`` puts new polyps on, and nothing else uses."""
    return ws.images("role = ? AND flagged = 0", (BACKGROUND,))


def refuse_backgrounds(ws: Workspace, image_ids: Iterable[int]) -> None:
    """A clear error when any of ``image_ids`` is a background image (it has no polyp)."""
    wanted = set(image_ids)
    found = [r for r in ws.images("role = ?", (BACKGROUND,)) if r.id in wanted]
    if found:
        what = "is a background image" if len(found) == 1 else "are background images"
        raise DiffGenError(
            f"{_names(found)} {what} (a frame without polyps, no mask): it has no polyp to inpaint, "
            "cluster, train or style on; only mask-guided synthesis (diffgen synthesize) puts new polyps on it"
        )


def _held_out(ws: Workspace, image_ids: Iterable[int]) -> list[ImageRecord]:
    wanted = set(image_ids)
    return [r for r in ws.images("role = ?", (TEST,)) if r.id in wanted]


def _names(held: list[ImageRecord]) -> str:
    return "; ".join(f"image {r.id} ({r.name})" for r in held[:5]) + ("; ..." if len(held) > 5 else "")


def _held_out_error(ws: Workspace, held: list[ImageRecord], subject: str) -> DiffGenError:
    return DiffGenError(
        f"{subject}: no generation stage uses test images (segmentation is tested on them). "
        f"Choose training images, or make them training images with 'diffgen set-role "
        f"--workspace {ws.root} --images {','.join(str(r.id) for r in held)} --role train'"
    )


def refuse_held_out(ws: Workspace, image_ids: Iterable[int]) -> None:
    """A clear error when any of ``image_ids`` is a held-out test image."""
    held = _held_out(ws, image_ids)
    if held:
        what = "is a held-out test image" if len(held) == 1 else "are held-out test images"
        raise _held_out_error(ws, held, f"{_names(held)} {what}")


def generation_samples(ws: Workspace, samples: list[SampleRecord], named: bool) -> list[SampleRecord]:
    """``samples`` without those made from test images (made before the image was held out);
    when the user ``named`` the samples, such a sample is an error instead."""
    held = _held_out(ws, {s.source_image_id for s in samples if s.source_image_id is not None})
    held_ids = {r.id for r in held}
    if held and named:
        bad = [s.id for s in samples if s.source_image_id in held_ids]
        raise _held_out_error(
            ws,
            held,
            f"sample{'s' * (len(bad) > 1)} {', '.join(map(str, bad))} "
            f"{'were' if len(bad) > 1 else 'was'} made from held-out test "
            f"image{'s' * (len(held) > 1)}: {_names(held)}",
        )
    return [s for s in samples if s.source_image_id not in held_ids]


def parse_ids(text: str) -> list[int]:
    """``"3,7,12"`` -> ``[3, 7, 12]`` (the CLI's and the GUI's way to name images)."""
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise DiffGenError(f"expected comma-separated image ids, got {text!r}") from None


@dataclass(frozen=True)
class ImageSelection:
    images: tuple[int, ...] = ()
    cluster: int | None = None
    all: bool = False

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "ImageSelection":
        """From a job's parameters (``images``, ``cluster``, ``all``)."""
        return cls(
            tuple(int(i) for i in params.get("images") or ()),
            None if params.get("cluster") is None else int(params["cluster"]),
            bool(params.get("all")),
        )

    @property
    def chosen(self) -> bool:
        return bool(self.images) or self.cluster is not None or self.all

    def resolve(self, ws: Workspace, allow_test: bool = False, allow_background: bool = False) -> list[int]:
        """The image ids; ``allow_test`` only for mask operations, ``allow_background`` only for
        mask-guided synthesis (the stage decides, never a stored parameter): generation never
        uses test images, and only synthesis uses background images (named by id; a cluster or
        "all" are training images)."""
        if self.images:
            known = set(ws.image_ids())
            missing = [i for i in self.images if i not in known]
            if missing:
                raise DiffGenError(f"no image with id {', '.join(map(str, missing))} in {ws.root}")
            if not allow_test:
                refuse_held_out(ws, self.images)
            if not allow_background:
                refuse_backgrounds(ws, self.images)
            return list(self.images)
        if self.cluster is not None:
            clustering = ws.current_clustering_id()
            if clustering is None:
                raise DiffGenError("the images are not clustered yet: run 'diffgen cluster' or pass --images/--all")
            rows = ws.query(
                "SELECT a.image_id FROM cluster_assignments a JOIN images i ON i.id = a.image_id"
                " WHERE a.clustering_id = ? AND a.cluster = ? AND i.flagged = 0"
                f"{'' if allow_test else ' AND i.' + GENERATION_ROLE} ORDER BY a.image_id",
                (clustering, self.cluster),
            )
            return [r[0] for r in rows]
        if self.all:
            found = ws.images("flagged = 0 AND role != ?", (BACKGROUND,)) if allow_test else generation_images(ws, "flagged = 0")
            return [r.id for r in found]
        raise DiffGenError(CHOOSE)

    def describe(self) -> str:
        """The selection as the user gave it (for messages)."""
        if self.images:
            return f"images {','.join(map(str, self.images))}"
        return f"cluster {self.cluster}" if self.cluster is not None else "all images"

    def require(self, ws: Workspace, what: str, allow_test: bool = False, allow_background: bool = False) -> list[int]:
        """:meth:`resolve`, refusing a selection that resolves to no images: a ``what`` job
        with nothing to do is an error, at enqueue (the user can still choose) and again when
        it runs (images may have been flagged or removed in between)."""
        ids = self.resolve(ws, allow_test, allow_background)
        if not ids:
            left_out = "flagged images" if allow_test else "flagged and held-out test images"
            raise DiffGenError(
                f"{what}: {self.describe()} selects no images in {ws.root} ({left_out} are "
                "left out); choose other images, or unflag them"
            )
        return ids


def ids_argument(text: str) -> list[int]:
    """:func:`parse_ids` as an argparse ``type`` (bad input is a usage error, not a traceback)."""
    import argparse

    try:
        return parse_ids(text)
    except DiffGenError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_selection_args(parser, what: str = "image") -> Any:
    """``--images IDS | --cluster K | --all``, one required choice (the CLI's one helper); returns
    the group, for a command with one more way to choose (``synthesize --backgrounds``)."""
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--images", type=ids_argument, metavar="IDS", help=f"comma-separated {what} ids")
    which.add_argument("--cluster", type=int, metavar="K", help="every unflagged training image of cluster K")
    which.add_argument("--all", action="store_true", help="every unflagged training image (test images are held out)")
    return which
