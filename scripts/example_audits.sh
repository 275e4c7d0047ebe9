#!/usr/bin/env bash
# The docs' example audits (docs/results/audit.md): train the two owner models the attacks experiment uses
# (the 7 × 400 MNIST FCN, 15 epochs; the VGG on Fashion-MNIST, 4 epochs) into runs/, then audit each at the
# `standard` budget into results/audit-*. Resumable: a finished training or audit cell is not redone.
#
#   scripts/example_audits.sh [fcn|vgg|all]      # default all; THREADS=1 for one core
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${CLI:-.venv/bin/corelocker-bounds}
export OMP_NUM_THREADS=${THREADS:-2}
which=${1:-all}

if [[ $which == fcn || $which == all ]]; then
  $CLI train --hidden-layers 7 --width 400 --epochs 15 --seed 0 --no-progress --out runs/owner-fcn-7x400
  $CLI audit --checkpoint runs/owner-fcn-7x400 --target-accuracy 0.15 --budget standard --no-progress \
    --out results/audit-fcn-7x400
fi
if [[ $which == vgg || $which == all ]]; then
  $CLI train --arch vgg --hidden-layers 2 --width 16 --channels-last --dataset fashion-mnist --epochs 4 --seed 0 \
    --no-progress --out runs/owner-vgg
  $CLI audit --checkpoint runs/owner-vgg --target-accuracy 0.15 --budget standard --no-progress \
    --out results/audit-vgg
fi
