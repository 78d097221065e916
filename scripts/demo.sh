#!/usr/bin/env bash
# Sets up .venv, trains a VAE on the embedded MNIST test set, writes samples, metrics and a loss curve.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
run=${1:-runs/demo-vae}
.venv/bin/deepgen train vae --data mnist10k --steps 1500 --out "$run"
.venv/bin/deepgen sample "$run" --n 64 --out "$run/samples.png"
