#!/usr/bin/env bash
# Sets up .venv, trains a VAE on the shipped MNIST digits, writes samples, metrics and a loss curve.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
run=${1:-runs/demo-vae-$(date +%Y%m%d-%H%M%S)}
.venv/bin/deepgen train vae --data mnist10k --latent-dim 8 --steps 1500 --out "$run"
.venv/bin/deepgen sample "$run" --n 64 --out "$run/samples.png"
