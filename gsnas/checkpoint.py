"""Checkpoints: atomic writes, a checksum that catches truncation, and every RNG state.

File layout: MAGIC, sha256 of the payload (32 bytes), the ``torch.save`` payload.
"""
from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path

import numpy as np
import torch

from .results import atomic_write_text

MAGIC = b"GSNASCKPT1\n"


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
    path = Path(path)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    atomic_write_text(path, MAGIC + hashlib.sha256(payload).digest() + payload)


def load(path, map_location="cpu") -> dict:
    """Read a checkpoint; a truncated or corrupted file raises one clear ValueError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read checkpoint {path}: {e.strerror}") from None
    head, digest, payload = data[:len(MAGIC)], data[len(MAGIC):len(MAGIC) + 32], data[len(MAGIC) + 32:]
    if head != MAGIC:
        raise ValueError(f"{path} is not a gsnas checkpoint")
    if hashlib.sha256(payload).digest() != digest:
        raise ValueError(f"checkpoint {path} is truncated or corrupted (checksum mismatch)")
    return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
