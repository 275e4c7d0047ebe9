#!/usr/bin/env bash
# One slice of Figure 5's claimed region on a GPU, in a window of SECONDS:
#   scripts/gpu_slice.sh OUT SECONDS [PYTHON]
# Trains the paper-region cells in order (corners first) with the paper's protocol in fp32 (TF32 off, recorded in
# every row) and stops before an epoch that would not end in time; every finished epoch's rows are in OUT. The next
# window runs the same command on OUT (committed, or copied back) and continues where this one stopped; resume points
# live in the user cache ($CORELOCKER_STATE_DIR), so a fresh machine retrains an unfinished cell from its first epoch.
set -euo pipefail
out=${1:?usage: scripts/gpu_slice.sh OUT SECONDS [PYTHON]}
secs=${2:?usage: scripts/gpu_slice.sh OUT SECONDS [PYTHON]}
py=${3:-python3}
cd "$(dirname "$0")/.."
"$py" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))"
"$py" -m empirical.cli paper-widths --preset paper-region --out "$out" --device cuda --deadline "$secs" --no-progress
"$py" -m empirical.cli report "$out"
