"""Declarations of the parameters several job kinds take, one each, so that the same parameter
has the same label, form widget, range and flag in every kind: the images, a preset and its
overrides, a device, and the settings every generator shares with inpainting (model, samples,
dilation, sampler, retries, seed). Each call makes a new field (a dataclass field belongs to one
class); ``help`` says what it means in that kind."""

from __future__ import annotations

from typing import Any

from backend.config.fields import param
from backend.workspace.selection import ImageSelection

DEVICES = "auto | cpu | cuda | cuda:N | mps"


def images(help: str = "the images to work on") -> Any:
    return param(ImageSelection(), label="Images", help=help, form="images", widget="images")


def preset(help: str, default: str | None = None, flag_default: str | None = None) -> Any:
    """``flag_default``: what the command's ``--preset`` takes when not given, where that is not the field's."""
    cli = {"default": flag_default} if flag_default is not None else None
    return param(default, label="Preset", help=help, cli=cli, form=True, widget="preset")


def overrides(
    help: str, metavar: str = "SECTION.FIELD=VALUE", flag: tuple[str, ...] = ("--set",), flag_default: list | None = None
) -> Any:
    """Preset overrides, ``--set`` once per value (none given: ``flag_default``)."""
    cli = {"metavar": metavar, "default": flag_default}
    return param((), label="Overrides", help=help, flag=flag, cli=cli, form=True, widget="overrides")


def device(help: str = DEVICES, flag_default: str | None = None) -> Any:
    cli = {"default": flag_default} if flag_default is not None else None
    return param(label="Device", help=help, cli=cli, form=True, widget="device")


def model(help: str) -> Any:
    return param("cluster", label="Model", help=help, cli={"metavar": "cluster|full|NAME|PATH"}, form=True, widget="model")


def samples(help: str) -> Any:
    return param(None, 1, 1000, label="Samples / image", help=help, form=True)


def dilate(help: str) -> Any:
    return param(None, 0, 1024, unit="px", label="Dilation", help=help, cli={"metavar": "PX"}, form=True)


def sampler() -> Any:
    return param(
        label="Sampler",
        help="the reverse chain: repaint (the paper's), or a fast one at 25-100 evaluations: ddim-repaint, "
        "ddnm (DDNM+), diffpir (default: the preset's inpaint.sampler, whose settings come from the preset)",
        choices="backend.diffusion.samplers:SAMPLERS",
        form=True,
    )


def retries(help: str) -> Any:
    return param(None, 0, 100, help=help, cli={"metavar": "K"})


def seed(help: str = "run seed (each sample's seed derives from it and the image id)") -> Any:
    return param(help=help)
