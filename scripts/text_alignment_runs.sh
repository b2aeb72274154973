#!/bin/sh
# Pretrainings of the text-alignment study (issue: does the text help?), on the DEVELOPMENT corpus
# (simulator seed 1, 8,000 ECGs), never on the evaluation cohorts. 4 objectives x 3 seeds, 5 epochs,
# two single-thread queues in parallel (2 cores). Checkpoints: data/text/ckpt/{align}_s{seed}.pt
#   python -m hfviz simulate --preset pretrain --n 8000 --seed 1 --workers 2 --out data/text/dev-corpus-s1
#   sh scripts/text_alignment_runs.sh > logs/text_runs.log 2>&1
set -e
CORPUS=${CORPUS:-data/text/dev-corpus-s1}
OUT=${OUT:-data/text/ckpt}
mkdir -p "$OUT"
run() { python -m hfviz pretrain --corpus "$CORPUS" --out "$OUT/$1_s$2.pt" --align "$1" --seed "$2" --epochs 5 --threads 1; }
queue() { for job in "$@"; do run ${job%:*} ${job#*:}; done; }
queue soft:0 infonce:0 cosine:1 none:1 soft:2 infonce:2 &
queue none:0 cosine:0 soft:1 infonce:1 none:2 cosine:2 &
wait
