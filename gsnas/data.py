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

# torchvision is imported where data is loaded, not here: importing it takes ~2.5 s (its models pull in
# torch._dynamo), which every notebook that only reads results or configs would pay.

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
    from torchvision.transforms import v2

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
    from torchvision import datasets
    from torchvision.datasets.utils import extract_archive

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
    from torchvision import datasets

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


def targets(ds) -> torch.Tensor:
    """The labels of a dataset or of a (nested) ``Subset`` of one, without loading an image."""
    if isinstance(ds, Subset):
        return targets(ds.dataset)[torch.as_tensor(ds.indices)]
    if isinstance(ds, ShuffledLabels):
        return ds.labels
    return torch.as_tensor(ds.targets)


class ShuffledLabels(torch.utils.data.Dataset):
    """``ds`` with its labels permuted among its images (seeded): the class counts kept, the signal gone.

    The permuted-labels control of a search: what it selects on these labels it did not select
    for the data.
    """

    def __init__(self, ds, seed: int):
        self.ds = ds
        labels = targets(ds)
        self.labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed + 7919))]

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        return self.ds[i][0], int(self.labels[i])


def split(ds, fraction: float = 0.5):
    """Two disjoint halves of ``ds`` (DARTS: weights on one, architecture on the other)."""
    n = int(len(ds) * fraction)
    return Subset(ds, range(n)), Subset(ds, range(n, len(ds)))


def materialize(ds, batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """All images and labels of ``ds`` (with its deterministic transforms) as two tensors."""
    xs, ys = zip(*DataLoader(ds, batch_size=batch_size))
    return torch.cat(xs), torch.cat(ys)


class DeviceLoader:
    """A dataset resident on the device, batched and augmented there: no DataLoader, no copies per batch.

    The GPU fast path: the images are transformed once without augmentation, moved to
    the device, and each batch is cropped (after padding with the normalised value of a
    black pixel, as RandomCrop pads), flipped and cut out on the device. The batch order is
    ``EpochSampler``'s; the augmentation of batch i in an epoch depends only on (seed,
    epoch, i), so a resumed run sees the same batches.
    """

    def __init__(self, ds, batch_size: int, shuffle: bool, seed: int, device, dataset: str,
                 augment: bool = False, cutout: int = 0):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        x, y = materialize(ds)
        self.x, self.y = x.to(device), y.to(device)
        self.batch_size, self.shuffle, self.seed, self.device = batch_size, shuffle, seed, torch.device(device)
        self.sampler = EpochSampler(len(ds), seed) if shuffle else None
        self.augment, self.cutout = augment, cutout
        mean, std = STATS[dataset]
        self.pad = max(1, x.shape[-1] // 8)
        self.fill = (-torch.tensor(mean) / torch.tensor(std)).view(1, -1, 1, 1).to(device)

    def __len__(self):
        n = len(self.sampler) if self.sampler else len(self.y)
        return n // self.batch_size if self.shuffle and n >= self.batch_size else -(-n // self.batch_size)

    def __iter__(self):
        order = torch.tensor(list(iter(self.sampler))) if self.sampler else torch.arange(len(self.y))
        order = order.to(self.device)  # once an epoch: a copy per batch would make every step wait for the GPU
        first = self.sampler.start // self.batch_size if self.sampler else 0
        for i in range(len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            x, y = self.x[idx], self.y[idx]
            if self.shuffle and (self.augment or self.cutout):
                epoch = self.sampler.epoch if self.sampler else 0
                g = torch.Generator(self.device).manual_seed((self.seed * 1_000_003 + epoch) * 1_000_003 + first + i)
                x = self._augment(x, g)
            yield x, y

    def _augment(self, x, g):
        n, c, h, w = x.shape
        if self.augment:
            p = self.pad
            padded = torch.cat([self.fill.expand(n, c, h, p), x, self.fill.expand(n, c, h, p)], dim=3)
            padded = torch.cat([self.fill.expand(n, c, p, w + 2 * p), padded, self.fill.expand(n, c, p, w + 2 * p)], 2)
            dy = torch.randint(0, 2 * p + 1, (n, 1, 1), generator=g, device=x.device)
            dx = torch.randint(0, 2 * p + 1, (n, 1, 1), generator=g, device=x.device)
            rows = (dy + torch.arange(h, device=x.device).view(1, h, 1)).expand(n, h, w)
            cols = (dx + torch.arange(w, device=x.device).view(1, 1, w)).expand(n, h, w)
            x = padded[torch.arange(n, device=x.device).view(n, 1, 1), :, rows, cols].permute(0, 3, 1, 2)
            flip = torch.rand(n, generator=g, device=x.device) < 0.5
            x = torch.where(flip.view(n, 1, 1, 1), x.flip(-1), x)
        if self.cutout:
            half = self.cutout // 2
            cy = torch.randint(0, h, (n, 1, 1), generator=g, device=x.device)
            cx = torch.randint(0, w, (n, 1, 1), generator=g, device=x.device)
            r, q = torch.arange(h, device=x.device).view(1, h, 1), torch.arange(w, device=x.device).view(1, 1, w)
            hole = (r >= cy - half) & (r < cy + half) & (q >= cx - half) & (q < cx + half)
            x = x.masked_fill(hole.unsqueeze(1), 0.0)
        return x.contiguous()
