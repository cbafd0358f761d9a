"""Augmentations of MNIST training images, and input standardization: the CNN lab's data pipeline.

Every random number comes from the trainer's numpy Generator, drawn in a fixed order (the
augmentations in the order of AUGMENTATIONS, whatever order they were asked in), so a batch is
the same for a seed on both engines, and going back in time replays it exactly. The geometry is
scipy.ndimage's (affine_transform, map_coordinates, gaussian_filter), with linear interpolation
and zeros outside the image, as MNIST's black background is.

    shift     each image moved by (dy, dx) in [−s, s] pixels (the lab's --shift; the old default)
    rotate    turned by θ ~ U(−15°, 15°) about the centre
    scale     zoomed by k ~ U(0.85, 1.15) about the centre
    elastic   displaced by a random field smoothed with a Gaussian (σ 4 px), about 1–2 px (Simard 2003)
    blur      Gaussian blur with σ ~ U(0, 1) px
    contrast  x ← m + c·(x − m), m the image's mean, c ~ U(0.5, 1.5), clipped to [0, 1]
    noise     x ← x + 0.1·ε, ε ~ N(0, 1) per pixel, clipped to [0, 1]
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from . import StepwiseError

AUGMENTATIONS = ("shift", "rotate", "scale", "elastic", "blur", "contrast", "noise")
MAX_ANGLE = 15.0       # degrees
SCALE_RANGE = (0.85, 1.15)
ELASTIC_SIGMA = 4.0    # pixels: smoothness of the displacement field
ELASTIC_ALPHA = 20.0   # strength: the smoothed N(0, 1) field times this ≈ 1.4 px on average
BLUR_MAX_SIGMA = 1.0
CONTRAST_RANGE = (0.5, 1.5)
NOISE_STD = 0.1


def parse_augment(value) -> tuple[str, ...]:
    """'shift,rotate' / a list -> the names in the canonical order; '' or 'none' -> ()."""
    if value is None:
        return ("shift",)
    parts = [p.strip().lower() for p in value.replace(" ", ",").split(",")] if isinstance(value, str) else \
        [str(p).strip().lower() for p in value]
    parts = [p for p in parts if p and p != "none"]
    unknown = [p for p in parts if p not in AUGMENTATIONS]
    if unknown:
        raise StepwiseError(f"Unknown augmentation {unknown[0]!r}; choose from {', '.join(AUGMENTATIONS)} "
                            "(comma-separated, or none).")
    return tuple(a for a in AUGMENTATIONS if a in parts)


def shift_images(images: np.ndarray, rng: np.random.Generator, max_shift: int) -> np.ndarray:
    """Each image moved by its own random (dy, dx) in [−max_shift, max_shift], zeros shifted in."""
    if max_shift <= 0:
        return images
    n, h, w = images.shape
    s = max_shift
    padded = np.pad(images, ((0, 0), (s, s), (s, s)))                       # (N, H + 2s, W + 2s)
    dy = rng.integers(0, 2 * s + 1, n)
    dx = rng.integers(0, 2 * s + 1, n)
    rows = (dy[:, None] + np.arange(h))[:, :, None]                          # (N, H, 1)
    cols = (dx[:, None] + np.arange(w))[:, None, :]                          # (N, 1, W)
    return padded[np.arange(n)[:, None, None], rows, cols]                   # (N, H, W)


def resample(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """out[n, i, j] = images[n] read at (rows[n, i, j], cols[n, i, j]), bilinear, zeros outside:
    one map_coordinates call over the stack (the image index is an exact integer coordinate)."""
    n = np.broadcast_to(np.arange(len(images))[:, None, None], rows.shape)
    return ndimage.map_coordinates(images, [n, rows, cols], order=1, mode="constant", cval=0.0).astype(np.float32)


def pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")  # (H, W) each


def rotate_scale(images: np.ndarray, angles_deg: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Each image turned by its angle and zoomed by its scale about its centre."""
    n, h, w = images.shape
    r, c = pixel_grid(h, w)
    cr, cc = (h - 1) / 2.0, (w - 1) / 2.0
    a = np.deg2rad(angles_deg)[:, None, None]                                 # (N, 1, 1)
    k = np.asarray(scales, dtype=np.float64)[:, None, None]
    # output pixel o reads input pixel R(−θ)·(o − c)/k + c: the inverse of "turn by θ, zoom by k"
    rows = cr + (np.cos(a) * (r - cr) + np.sin(a) * (c - cc)) / k              # (N, H, W)
    cols = cc + (-np.sin(a) * (r - cr) + np.cos(a) * (c - cc)) / k
    return resample(images, rows, cols)


def elastic(images: np.ndarray, fields: np.ndarray) -> np.ndarray:
    """Each image read at (row, col) + its smoothed displacement field; fields (N, 2, H, W) ~ N(0, 1)."""
    n, h, w = images.shape
    r, c = pixel_grid(h, w)
    smooth = ndimage.gaussian_filter(fields, (0, 0, ELASTIC_SIGMA, ELASTIC_SIGMA), mode="constant") * ELASTIC_ALPHA
    return resample(images, r + smooth[:, 0], c + smooth[:, 1])                # (N, H, W)


def blur(images: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    out = np.empty_like(images)
    for i, s in enumerate(sigmas):
        ndimage.gaussian_filter(images[i], float(s), output=out[i], mode="constant", cval=0.0)
    return out


def augment_images(images: np.ndarray, rng: np.random.Generator, names: tuple[str, ...],
                   max_shift: int) -> np.ndarray:
    """The batch (N, 28, 28) through the chosen augmentations, in the canonical order.

    With names == ("shift",) this is exactly ``shift_images`` (the same draws, the same images)."""
    x = images
    n = len(x)
    if "shift" in names:
        x = shift_images(x, rng, max_shift)
    if "rotate" in names or "scale" in names:
        angles = rng.uniform(-MAX_ANGLE, MAX_ANGLE, n) if "rotate" in names else np.zeros(n)
        scales = rng.uniform(*SCALE_RANGE, n) if "scale" in names else np.ones(n)
        x = rotate_scale(np.asarray(x, dtype=np.float32), angles, scales)
    if "elastic" in names:
        x = elastic(np.asarray(x, dtype=np.float32), rng.standard_normal((n, 2, *x.shape[1:])))
    if "blur" in names:
        x = blur(np.asarray(x, dtype=np.float32), rng.uniform(0.0, BLUR_MAX_SIGMA, n))
    if "contrast" in names:
        c = rng.uniform(*CONTRAST_RANGE, n).astype(np.float32)[:, None, None]   # (N, 1, 1)
        m = x.mean(axis=(1, 2), keepdims=True)                                  # (N, 1, 1)
        x = np.clip(m + c * (x - m), 0.0, 1.0).astype(np.float32)
    if "noise" in names:
        x = np.clip(x + NOISE_STD * rng.standard_normal(x.shape), 0.0, 1.0).astype(np.float32)
    return x


def augmentation_strip(image: np.ndarray, rng: np.random.Generator, names: tuple[str, ...], max_shift: int,
                       combined: int = 8) -> list[tuple[str, np.ndarray]]:
    """(caption, 28×28 image) pairs for the view: the image, then each chosen augmentation alone,
    then ``combined`` draws of the whole pipeline (the same kind of images training sees)."""
    img = np.asarray(image, dtype=np.float32).reshape(1, 28, 28)
    out = [("original", img[0].copy())]
    for name in names:
        out.append((name, augment_images(img, rng, (name,), max_shift)[0].copy()))
    if len(names) > 1:
        batch = augment_images(np.repeat(img, combined, axis=0), rng, names, max_shift)
        out += [("all", b.copy()) for b in batch]
    elif names:
        batch = augment_images(np.repeat(img, combined - 1, axis=0), rng, names, max_shift)
        out += [(names[0], b.copy()) for b in batch]
    return out


def _pixel_levels(x: np.ndarray, levels: int = 255, chunk: int = 1 << 18) -> tuple[np.ndarray, np.ndarray] | None:
    """8-bit images as floats (every value k/255): their distinct values and how often each occurs, or None.
    Counted in chunks through two small buffers (no array the size of the data set is made): 256 values to
    reduce instead of every pixel in float64 (the CNN's input statistics took 1.2 s at start-up)."""
    if x.dtype not in (np.float32, np.float64) or x.size == 0:
        return None
    flat = x.reshape(-1)
    scale = x.dtype.type(levels)
    k, back = np.empty(min(chunk, flat.size), x.dtype), np.empty(min(chunk, flat.size), x.dtype)
    counts = np.zeros(levels + 1, dtype=np.int64)
    for start in range(0, flat.size, chunk):
        part = flat[start:start + chunk]
        kk, bb = k[:len(part)], back[:len(part)]
        np.rint(np.multiply(part, scale, out=kk), out=kk)
        if kk.min() < 0 or kk.max() > levels or not np.array_equal(np.divide(kk, scale, out=bb), part):
            return None
        counts += np.bincount(kk.astype(np.uint8), minlength=levels + 1)
    values = np.arange(levels + 1, dtype=x.dtype) / scale
    return values.astype(np.float64), counts.astype(np.float64)


def input_statistics(images: np.ndarray, bins: int = 40) -> dict:
    """Mean and standard deviation of every pixel of ``images`` (float64), with the histograms of the
    raw pixels and of the standardized ones, x̂ = (x − μ) / σ."""
    x = np.asarray(images)
    levels = _pixel_levels(x)
    if levels is None:   # every pixel, each its own value
        values, counts = x.astype(np.float64).ravel(), None
    else:
        values, counts = levels
    n = x.size
    mean = float(np.average(values, weights=counts))
    std = float(np.sqrt(np.average((values - mean) ** 2, weights=counts)))
    if not std > 0:
        raise StepwiseError("The training images are all the same value; they cannot be standardized.")
    raw, raw_edges = np.histogram(values, bins=bins, range=(0.0, 1.0), weights=counts)
    z = (values - mean) / std
    present = z if counts is None else z[counts > 0]
    zc, z_edges = np.histogram(z, bins=bins, range=(float(present.min()), float(present.max())), weights=counts)
    return {"mean": mean, "std": std, "raw_counts": raw.astype(np.float64), "raw_edges": raw_edges,
            "normalized_counts": zc.astype(np.float64), "normalized_edges": z_edges,
            "normalized_mean": float(np.average(z, weights=counts)),
            "normalized_std": float(np.sqrt(np.average((z - np.average(z, weights=counts)) ** 2, weights=counts))),
            "n_pixels": int(n)}