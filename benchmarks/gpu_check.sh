#!/usr/bin/env bash
# What a lent GPU machine runs (a few minutes): the CUDA tests, then benchmarks/gpu.py.
# Logs and gpu.json go to $OUT (default gpu_out/); copy gpu.json to benchmarks/ for RESULTS.md.
# Fashion-MNIST comes from .gpudata/*.gz when carried (the machine has no network), else as usual.
set -uo pipefail
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1
PY=${PY:-python3}
if ls .gpudata/*.gz >/dev/null 2>&1; then
  raw=/tmp/gsnas-data/FashionMNIST/raw
  mkdir -p $raw
  for f in .gpudata/*.gz; do gunzip -c "$f" > "$raw/$(basename "$f" .gz)"; done
  export GSNAS_DATA=/tmp/gsnas-data
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/nvidia-smi.txt"
$PY -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
$PY -m pytest -q -o addopts="-ra" -p no:cacheprovider tests/test_cuda.py tests/test_device_data.py 2>&1 \
  | tee "$OUT/tests.log"
$PY benchmarks/gpu.py --steps 30 --out "$OUT/gpu.json" --pruning results/cpu 2>&1 | tee "$OUT/gpu.log"
# last, as it may take minutes: the same with torch.compile, cut off after 4
timeout 240 $PY benchmarks/gpu.py --steps 30 --compile --out "$OUT/gpu_compile.json" 2>&1 | tee "$OUT/gpu_compile.log"
