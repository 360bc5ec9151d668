"""Style transfer of inpainted samples (paper section 3.3): DiffuseIT's style loss and
ZeCon's content loss guide the same diffusion model to remove the colour seams that
inpainting leaves. ``run_style`` is the job function the CLI and the GUI call."""

from backend.style.job import run_style

__all__ = ["run_style"]
