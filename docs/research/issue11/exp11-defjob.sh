#!/bin/bash
# The default job as the CLI runs it: built-in backbone, 5 epochs, batch 16, 48 px, combined (scale 0.6-1).
cd /work/exp11
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 AUGTUNE_OFFLINE=1
for cache in empty warm; do
  [ $cache = empty ] && rm -rf /tmp/exp11-defcache
  export AUGTUNE_CACHE=/tmp/exp11-defcache
  start=$(date +%s.%N)
  python -u -c "
import time, torch, sys
torch.set_num_threads(1)
c0 = time.process_time()
from augtune.train import main
rc = main(sys.argv[1:])
print(f'CPU {time.process_time() - c0:.1f} s', flush=True)
" --data synthetic --weights /tmp/exp11/pre1/backbone-fp16.pt --epochs 5 --batch-size 16 --image-size 48 --augment /tmp/exp11/combined06.json --out /tmp/exp11/defjob-$cache --quiet 2>&1 | grep --line-buffered -v Warn | while IFS= read -r line; do now=$(date +%s.%N); printf "%s %6.1f s  %s\n" $cache $(echo "$now - $start" | bc) "$line"; done
done
echo "load $(cut -d' ' -f1 /proc/loadavg)"
