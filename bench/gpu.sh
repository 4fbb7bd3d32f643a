#!/usr/bin/env bash
# One prepared command for a lent GPU: a hot-dog-sized fine-tuning job on the synthetic set
# (2 000 train / 800 test images at 224 px, 5 epochs, batch 128, the hot-dog training augmentation),
# ResNet-18 from a locally written ImageNet-shaped state dict, so no network is needed.
# Prints the lesson's log line per epoch with images/s, then the device and total seconds.
# Target on one H100: under 15 s for the 5 epochs (the lesson took about 25 s per epoch).
# Then both lesson comparisons at 224 px (augmentation on vs off; the built-in backbone fine-tuned vs scratch;
# 8 epochs, batch 16, 1 seed) with their targets, and the data-parallel table (bench/finetune.py --ddp): 1 GPU
# without DDP, with DDP (torchrun, 1 rank), and all GPUs when there are several.
#
#   bash bench/gpu.sh          # the real size (on a GPU)
#   bash bench/gpu.sh --tiny   # 100 / 40 images at 56 px: checks the script anywhere, CPU included
set -euo pipefail
cd "$(dirname "$0")/.."
export AUGTUNE_OFFLINE=1 GOMP_SPINCOUNT=2000
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
python bench/finetune.py --gpu-job "$@"
if [ "${1:-}" = "--tiny" ]; then
  python bench/finetune.py --only lessons --quick
  python bench/finetune.py --ddp --quick
else
  python bench/finetune.py --only lessons --lesson-image-size 224 --seeds 1
  python bench/finetune.py --ddp
fi
