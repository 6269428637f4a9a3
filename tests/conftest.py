import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def zero_groups(groups):
    """Set every parameter of the given op groups to exactly zero."""
    with torch.no_grad():
        for g in groups:
            for p in g.params:
                p.zero_()


def randomize_bn(model):
    """Non-trivial BN affine weights and running statistics, so eval mode is a real test."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                if m.affine:
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.5, 0.5)
                if m.track_running_stats:
                    m.running_mean.uniform_(-0.5, 0.5)
                    m.running_var.uniform_(0.5, 2.0)
