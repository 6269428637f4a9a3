"""The GPU fast path's resident data (gsnas.data.DeviceLoader), checked on the CPU, and bf16 autocast."""
import pytest
import torch

from gsnas import data
from gsnas import config as C
from gsnas.search import search

SIZE = 16
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])  # CI has no GPU; a lent one runs both


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


@pytest.fixture(scope="module")
def plain():
    """128 training images without augmentation, as DeviceLoader keeps them."""
    return data.load("fashion-mnist", True, image_size=SIZE, augment=False, size=128, seed=0)


def _all(loader):
    xs, ys = zip(*((x.cpu(), y.cpu()) for x, y in loader))
    return torch.cat(xs), torch.cat(ys)


def test_same_batches_as_dataloader_without_augmentation(plain, device):
    for shuffle in (True, False):
        dev = data.DeviceLoader(plain, 32, shuffle, 3, device, "fashion-mnist")
        ref = data.loader(plain, 32, shuffle, 3)
        assert len(dev) == len(ref)
        for (a, ya), (b, yb) in zip(dev, ref):
            assert a.device.type == device and torch.equal(a.cpu(), b) and torch.equal(ya.cpu(), yb)


def test_each_image_is_a_padded_crop_maybe_flipped(plain, device):
    dev = data.DeviceLoader(plain, 32, True, 0, device, "fashion-mnist", augment=True)
    x = next(iter(dev))[0].cpu()
    originals = _all(data.DeviceLoader(plain, 32, True, 0, device, "fashion-mnist"))[0][:32]
    p = max(1, SIZE // 8)
    fill = -0.2860 / 0.3530  # a black pixel, normalised: what RandomCrop pads with
    for img, orig in zip(x, originals):
        padded = torch.nn.functional.pad(orig, (p, p, p, p), value=fill)
        crops = [c for dy in range(2 * p + 1) for dx in range(2 * p + 1)
                 for c in (padded[:, dy:dy + SIZE, dx:dx + SIZE], padded[:, dy:dy + SIZE, dx:dx + SIZE].flip(-1))]
        assert any(torch.allclose(img, c, atol=1e-6) for c in crops)
    assert not torch.equal(x, originals)  # something moved


def test_cutout_zeroes_one_square_at_most(plain, device):
    dev = data.DeviceLoader(plain, 128, True, 0, device, "fashion-mnist", cutout=6)
    x = next(iter(dev))[0].cpu()
    ref = _all(data.DeviceLoader(plain, 128, True, 0, device, "fashion-mnist"))[0]
    changed = (x != ref).any(1)  # per pixel
    assert changed.any()
    for mask in changed:
        rows, cols = mask.any(1).nonzero(), mask.any(0).nonzero()
        if len(rows):
            assert rows.max() - rows.min() < 6 and cols.max() - cols.min() < 6
    assert torch.equal(x[changed.unsqueeze(1)], torch.zeros_like(x[changed.unsqueeze(1)]))


def test_augmentation_depends_only_on_seed_epoch_and_batch(plain, device):
    def batches(epoch, start=0, seed=0):
        dev = data.DeviceLoader(plain, 32, True, seed, device, "fashion-mnist", augment=True, cutout=4)
        dev.sampler.epoch, dev.sampler.start = epoch, start
        return [b for b, _ in dev]

    full = batches(1)
    assert all(torch.equal(a, b) for a, b in zip(full, batches(1)))
    assert not torch.equal(full[0], batches(2)[0]) and not torch.equal(full[0], batches(1, seed=1)[0])
    resumed = batches(1, start=64)  # a mid-epoch resume after 2 batches
    assert len(resumed) == 2 and all(torch.equal(a, b) for a, b in zip(full[2:], resumed))


def test_search_with_resident_data_and_bf16_autocast(tmp_path):
    res = search(C.SearchConfig(space="s2", dataset="fashion-mnist", image_size=8, train_size=32, test_size=32, batch_size=16,
                                  channels=4, layers=3, epochs=1, lr=0.1, mu=2.0, progress=False, data_on_device=True,
                                  amp=True, out=str(tmp_path)))
    assert res["config"]["amp"] and res["acc_before"] > 0


@pytest.mark.parametrize("bad,message", [({"amp": "yes"}, "amp must be true or false, got 'yes'"),
                                         ({"compile": 1}, "compile must be true or false, got 1"),
                                         ({"data_on_device": 1}, "data_on_device must be true or false, got 1")])
def test_bad_fast_path_options(bad, message):
    with pytest.raises(ValueError, match=message):
        C.SearchConfig(**bad)
