"""Checkpoints: atomic writes, every RNG state, and truncation or corruption caught on load.

A checkpoint is a plain ``torch.save`` archive, so ``torch.load(path, weights_only=True)``
opens it like any PyTorch file. The archive is a zip and already carries what catching
damage needs: ``torch.save`` writes a CRC-32 for every record, and the zip's directory is
at the end of the file, so a cut anywhere loses it. ``torch.load`` does not check those
CRCs (a flipped byte in a tensor loads silently), so ``load`` checks them first. No digest
of our own: kept inside the archive it could not cover the archive; kept beside it, two
files would have to change atomically together.
"""
from __future__ import annotations

import hashlib
import io
import random
import zipfile
from pathlib import Path

import numpy as np
import torch

from .results import atomic_write_text

OLD_MAGIC = b"GSNASCKPT1\n"  # the former layout: OLD_MAGIC, sha256 of the payload (32 bytes), the payload


def rng_state() -> dict:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "gauss": float(gauss)}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path, state: dict) -> None:
    """Write ``state`` to ``path`` atomically: temporary file, flush + fsync, rename."""
    if not torch.serialization.get_crc32_options():
        raise RuntimeError("checkpoints need torch.save's CRC-32s: torch.serialization.set_crc32_options(True)")
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_text(Path(path), buffer.getvalue())


def load(path, map_location="cpu") -> dict:
    """Read a checkpoint; a truncated, corrupted or old-format file raises one clear ValueError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read checkpoint {path}: {e.strerror}") from None
    if data.startswith(OLD_MAGIC):
        raise ValueError(f"checkpoint {path} has the old gsnas format; convert it with python -c \"from gsnas "
                         f"import checkpoint; checkpoint.upgrade({str(path)!r})\", or start the run again")
    try:  # any failure to read the zip is damage: a cut file has lost its directory, a flipped byte its CRC
        bad = zipfile.ZipFile(io.BytesIO(data)).testzip()
        bad = bad and f"bad CRC-32 in {bad}"
    except Exception as e:
        bad = _first_line(e)
    if bad:
        raise ValueError(f"checkpoint {path} is truncated or corrupted ({bad})")
    try:
        return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as e:
        raise ValueError(f"checkpoint {path} cannot be loaded: {_first_line(e)}") from None


def upgrade(path) -> None:
    """Rewrite an old-format checkpoint in place as the plain ``torch.save`` archive it wrapped."""
    path = Path(path)
    data = path.read_bytes()
    if not data.startswith(OLD_MAGIC):
        raise ValueError(f"{path} is not an old-format gsnas checkpoint")
    digest, payload = data[len(OLD_MAGIC):len(OLD_MAGIC) + 32], data[len(OLD_MAGIC) + 32:]
    if hashlib.sha256(payload).digest() != digest:
        raise ValueError(f"checkpoint {path} is truncated or corrupted (checksum mismatch)")
    atomic_write_text(path, payload)


def _first_line(e: Exception) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__
