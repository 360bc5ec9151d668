"""Which images a job works on: one rule for every stage, the CLI and the GUI.

Images named by id are used as named (the user chose them, flagged or not); a cluster or
"all" leaves out images flagged as problematic. Naming nothing is an error that lists the
choices, so that no stage quietly falls back to every image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backend.errors import DiffGenError
from backend.workspace import Workspace

CHOOSE = "choose images: --images IDS, --cluster K or --all"


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
        return cls(tuple(int(i) for i in params.get("images") or ()),
                   None if params.get("cluster") is None else int(params["cluster"]), bool(params.get("all")))

    @property
    def chosen(self) -> bool:
        return bool(self.images) or self.cluster is not None or self.all

    def resolve(self, ws: Workspace) -> list[int]:
        if self.images:
            known = set(ws.image_ids())
            missing = [i for i in self.images if i not in known]
            if missing:
                raise DiffGenError(f"no image with id {', '.join(map(str, missing))} in {ws.root}")
            return list(self.images)
        if self.cluster is not None:
            clustering = ws.current_clustering_id()
            if clustering is None:
                raise DiffGenError("the images are not clustered yet: run 'diffgen cluster' or pass --images/--all")
            rows = ws.query("SELECT a.image_id FROM cluster_assignments a JOIN images i ON i.id = a.image_id"
                            " WHERE a.clustering_id = ? AND a.cluster = ? AND i.flagged = 0 ORDER BY a.image_id",
                            (clustering, self.cluster))
            return [r[0] for r in rows]
        if self.all:
            return [r.id for r in ws.images("flagged = 0")]
        raise DiffGenError(CHOOSE)


def select_images(ws: Workspace, params: dict[str, Any]) -> list[int]:
    """The images of a job's parameters (see :class:`ImageSelection`)."""
    return ImageSelection.from_params(params).resolve(ws)


def add_selection_args(parser, what: str = "image") -> None:
    """``--images IDS | --cluster K | --all``, one required choice (the CLI's one helper)."""
    import argparse

    def ids(text: str) -> list[int]:
        try:
            return parse_ids(text)
        except DiffGenError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--images", type=ids, metavar="IDS", help=f"comma-separated {what} ids")
    which.add_argument("--cluster", type=int, metavar="K", help="every unflagged image of cluster K")
    which.add_argument("--all", action="store_true", help="every unflagged image")
