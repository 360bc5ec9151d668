"""Colour matching of a styled image to its target, after sampling (``style.color_match``).

The author's sampling command (and DiffuseIT's) runs this post-step with ``--use_colormatch``,
the ``color-matcher`` package's 'mkl' method; the presets do too. Two methods on 8-bit RGB arrays:

- ``mkl``: the Monge-Kantorovich linear map between the two colour distributions seen as
  Gaussians (Pitie & Kokaram 2007): the result has the target's mean and covariance and
  is the least-displacement linear map that achieves it.
- ``histogram``: per-channel histogram specification (each channel's CDF made equal to
  the target's).

The map's output can leave 0..255; ``color_range`` says what happens then. ``clip`` cuts it
off at 0 and 255. ``stretch`` is the author's arithmetic (``optimization/image_editor.py``
526-531): each image rescaled to [0, 1] by its own min and max (color-matcher's
``Normalizer.type_norm`` on float data), the mkl map, then the result's min..max stretched
onto 0..255 and rounded (``Normalizer.uint8_norm``), so no pixel saturates but every pixel
moves when one overshoots.
"""

from __future__ import annotations

import numpy as np

from backend.style.terms import METHODS


def _sqrtm_psd(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(c)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _unit(pixels: np.ndarray) -> np.ndarray:
    """Values rescaled to [0, 1] by their own min and max (a constant image stays as it is)."""
    lo, hi = pixels.min(), pixels.max()
    return (pixels - lo) / (hi - lo) if hi > lo else pixels


def mkl_transfer(source: np.ndarray, target: np.ndarray, eps: float = 1e-6, color_range: str = "clip") -> np.ndarray:
    """Source pixels mapped so their colour mean and covariance equal the target's, brought
    back to 8 bits by ``color_range`` (``clip`` or ``stretch``, module docstring)."""
    s = source.reshape(-1, 3).astype(np.float64)
    r = target.reshape(-1, 3).astype(np.float64)
    if color_range == "stretch":
        s, r = _unit(s), _unit(r)
    cs = np.cov(s, rowvar=False) + eps * np.eye(3)
    cr = np.cov(r, rowvar=False) + eps * np.eye(3)
    cs_half = _sqrtm_psd(cs)
    cs_half_inv = np.linalg.inv(cs_half)
    mapping = cs_half_inv @ _sqrtm_psd(cs_half @ cr @ cs_half) @ cs_half_inv
    out = (s - s.mean(0)) @ mapping.T + r.mean(0)
    if color_range == "stretch":
        lo, hi = out.min(), out.max()
        out = (out - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(out)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(source.shape)


def histogram_match(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Each channel's values remapped so its histogram follows the target channel's."""
    out = np.empty_like(source)
    for c in range(source.shape[-1]):
        s, r = source[..., c].ravel(), target[..., c].ravel()
        _, s_idx, s_counts = np.unique(s, return_inverse=True, return_counts=True)
        r_values, r_counts = np.unique(r, return_counts=True)
        s_q = np.cumsum(s_counts) / s.size
        r_q = np.cumsum(r_counts) / r.size
        out[..., c] = np.rint(np.interp(s_q, r_q, r_values))[s_idx].reshape(source.shape[:-1])
    return out


def match_colours(source: np.ndarray, target: np.ndarray, method: str, color_range: str = "clip") -> np.ndarray:
    """``source`` coloured like ``target`` by ``method``; ``color_range`` applies to ``mkl``."""
    if method == "none":
        return source
    if method == "mkl":
        return mkl_transfer(source, target, color_range=color_range)
    if method == "histogram":
        return histogram_match(source, target)
    raise ValueError(f"unknown colour matching {method!r} (one of {', '.join(METHODS)})")
