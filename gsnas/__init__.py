"""GS-NAS: one-shot neural architecture search as operation pruning with group sparsity."""
from .genotype import DARTS_V1, DARTS_V2, GENOTYPES, Genotype, get_genotype
from .network import EvalNetwork
from .proxsgd import ProxSGD
from .spaces import SPACES, Space, get_space
from .supernet import Supernet

__all__ = ["DARTS_V1", "DARTS_V2", "GENOTYPES", "Genotype", "get_genotype", "EvalNetwork", "ProxSGD",
           "SPACES", "Space", "get_space", "Supernet"]
