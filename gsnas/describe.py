"""Size of a model: parameters, sparsity groups and forward multiply-adds."""
from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from .groups import count_params
from .network import EvalNetwork
from .supernet import Supernet


def mflops(model: torch.nn.Module, image_size: int = 32) -> float:
    """Forward multiply-adds per image, in millions (convolutions and linear layers, eval mode)."""
    was_training = model.training
    param = next(model.parameters())
    x = torch.zeros(1, model.in_channels, image_size, image_size, device=param.device, dtype=param.dtype)
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model.eval()(x)
    finally:
        model.train(was_training)
    return counter.get_total_flops() / 2e6


def describe(model: Supernet | EvalNetwork, image_size: int = 32) -> dict:
    aux = getattr(model, "auxiliary_head", None)
    return {
        "model": "supernet" if isinstance(model, Supernet) else "eval",
        "params": count_params(model),
        "params_no_aux": count_params(model) - (count_params(aux) if aux is not None else 0),
        "groups": len(model.op_groups()),
        "mflops": round(mflops(model, image_size), 3),
        "image_size": image_size,
        "genotype": (model.genotype() if isinstance(model, Supernet) else model.genotype).to_dict(),
    }
