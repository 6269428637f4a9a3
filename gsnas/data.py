"""Datasets and loaders: Fashion-MNIST (Debian's package or torchvision), CIFAR-10/100 (torchvision).

Augmentation follows SPEC §5: random crop with padding + horizontal flip, and
cutout for evaluation training; images are normalised per channel.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset
from torchvision import datasets
from torchvision.datasets.utils import extract_archive
from torchvision.transforms import v2

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
STATS = {  # per-channel mean, std of the training images
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
DATASETS = tuple(STATS)
NATIVE = {"fashion-mnist": (1, 28, 10), "cifar10": (3, 32, 10), "cifar100": (3, 32, 100)}  # channels, size, classes


def default_root() -> Path:
    return Path(os.environ.get("GSNAS_DATA", Path.home() / ".cache" / "gsnas" / "data"))


def check_dataset(name: str) -> str:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    return name


def info(name: str) -> dict:
    """in_channels, native image size and number of classes of a dataset."""
    c, size, classes = NATIVE[check_dataset(name)]
    return {"in_channels": c, "image_size": size, "num_classes": classes}


class Cutout(torch.nn.Module):
    """Zero a ``length`` x ``length`` square at a random centre (clipped at the border), as in DARTS."""

    def __init__(self, length: int):
        super().__init__()
        self.length = length

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        h, w = img.shape[-2:]
        y, x = torch.randint(h, ()).item(), torch.randint(w, ()).item()
        y0, y1 = max(0, y - self.length // 2), min(h, y + self.length // 2)
        x0, x1 = max(0, x - self.length // 2), min(w, x + self.length // 2)
        img = img.clone()
        img[..., y0:y1, x0:x1] = 0.0
        return img


def transforms(dataset: str, image_size: int, train: bool, augment: bool = True, cutout: int = 0):
    mean, std = STATS[dataset]
    steps = [v2.ToImage()]
    if image_size != NATIVE[dataset][1]:
        steps.append(v2.Resize(image_size, antialias=True))
    if train and augment:
        steps += [v2.RandomCrop(image_size, padding=max(1, image_size // 8)), v2.RandomHorizontalFlip()]
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    if train and cutout > 0:
        steps.append(Cutout(cutout))
    return v2.Compose(steps)


def _fashion_mnist(root: Path, train: bool, transform):
    raw = root / "FashionMNIST" / "raw"
    if not (raw / "t10k-labels-idx1-ubyte").exists() and (DEBIAN_FASHION_MNIST / "t10k-labels-idx1-ubyte.gz").exists():
        # Debian re-compressed the original IDX files (other MD5s): unpack them where torchvision looks.
        raw.mkdir(parents=True, exist_ok=True)
        for gz in sorted(DEBIAN_FASHION_MNIST.glob("*-ubyte.gz"), key=lambda p: p.name.startswith("t10k-labels")):
            extract_archive(str(gz), str(raw))  # t10k-labels last: it marks a complete unpack
    try:
        return datasets.FashionMNIST(root, train=train, transform=transform, download=not raw.exists())
    except Exception as e:  # no network and no local copy
        raise ValueError(f"Fashion-MNIST not found under {raw} and could not be downloaded ({type(e).__name__}); "
                         f"install Debian's package: apt-get install dataset-fashion-mnist") from None


def _cifar(name: str, root: Path, train: bool, transform):
    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    try:
        return cls(root, train=train, transform=transform, download=not (root / cls.base_folder).exists())
    except Exception as e:
        raise ValueError(f"{name} not found under {root / cls.base_folder} and could not be downloaded "
                         f"({type(e).__name__}); put the python-version batches there") from None


def load(dataset: str, train: bool, root=None, image_size: int | None = None, augment: bool = True,
         cutout: int = 0, size: int | None = None, seed: int = 0):
    """A dataset (optionally a fixed random subset of ``size`` images) with SPEC §5 transforms."""
    check_dataset(dataset)
    root = Path(root) if root else default_root()
    image_size = image_size or NATIVE[dataset][1]
    if image_size < 8:
        raise ValueError(f"image_size must be >= 8, got {image_size}")
    transform = transforms(dataset, image_size, train, augment, cutout)
    ds = (_fashion_mnist(root, train, transform) if dataset == "fashion-mnist"
          else _cifar(dataset, root, train, transform))
    if size is not None:
        if not 1 <= size <= len(ds):
            raise ValueError(f"subset size must be in 1..{len(ds)}, got {size}")
        idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:size]
        ds = Subset(ds, idx.tolist())
    return ds


@dataclass
class EpochSampler(torch.utils.data.Sampler):
    """A shuffle that depends only on (seed, epoch); ``start`` skips that many samples (a mid-epoch resume)."""

    n: int
    seed: int
    epoch: int = 0
    start: int = 0

    def __iter__(self):
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100_003 + self.epoch))
        return iter(order[self.start:].tolist())

    def __len__(self):
        return self.n - self.start


def loader(ds, batch_size: int, shuffle: bool, seed: int = 0, workers: int = 0) -> DataLoader:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    sampler = EpochSampler(len(ds), seed) if shuffle else None
    # Its own generator: starting an iterator must not draw from the global RNG (bitwise resume).
    return DataLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=workers,
                      drop_last=shuffle and len(ds) >= batch_size, pin_memory=torch.cuda.is_available(),
                      generator=torch.Generator().manual_seed(seed))


def split(ds, fraction: float = 0.5):
    """Two disjoint halves of ``ds`` (DARTS: weights on one, architecture on the other)."""
    n = int(len(ds) * fraction)
    return Subset(ds, range(n)), Subset(ds, range(n, len(ds)))
