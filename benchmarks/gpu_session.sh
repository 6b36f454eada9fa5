#!/usr/bin/env bash
# The prepared GPU check for notebook 07's issue, as one command (a lent GPU has minutes):
#   bash benchmarks/gpu_session.sh            # writes gpu.txt, test_accel_cuda.txt, bench_cuda.{log,json} to $OUT
#   DEVICE=cpu SIZES="32 48" bash benchmarks/gpu_session.sh   # dry run of the same script on a CPU
# 1. the CUDA tests (tests/test_accel_cuda.py: graphed = eager, bf16 within its tolerance, ...);
# 2. bench_transfer.py --device cuda at 256, 1024 and 512 px, max-autotune last. Each step has
#    its own time limit and the benchmark writes its JSON after every size, so a run that is
#    cut short still brings back what it measured.
# Runs with the GPU machine's own PyTorch (the course code comes from this checkout).
set -u
PYTHON=${PYTHON:-python3}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 COURSE_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/gpu.txt"
"$PYTHON" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" 2>&1 | tee -a "$OUT/gpu.txt"
timeout "${TEST_TIMEOUT:-100}" "$PYTHON" -m pytest -q -o addopts="" -p no:cacheprovider tests/test_accel_cuda.py 2>&1 \
    | tee "$OUT/test_accel_cuda.txt"
timeout "${BENCH_TIMEOUT:-430}" "$PYTHON" -W ignore benchmarks/bench_transfer.py --device "${DEVICE:-cuda}" --sizes ${SIZES:-256 1024 512} \
    --json "$OUT/bench_cuda.json" 2>&1 | tee "$OUT/bench_cuda.log"
echo "results in $OUT"
