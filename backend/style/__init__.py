"""Style transfer of inpainted samples (paper section 3.3): DiffuseIT's style loss and
ZeCon's content loss guide the same diffusion model to remove the colour seams that
inpainting leaves. ``run_style`` is the job function the CLI and the GUI call."""

__all__ = ["run_style"]


def __getattr__(name: str):
    """``run_style`` is imported on first use: the CLI's parser reads light modules of this
    package (colour methods, loss terms) without loading torch."""
    if name == "run_style":
        from backend.style.job import run_style

        return run_style
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
