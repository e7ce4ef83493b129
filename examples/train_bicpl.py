"""Train Bi-CPL on a built dataset with the stock `transformers.Trainer` (the same as `bicpl train`; the code is in
bicpl_hf/commands/train.py).

Every `TrainingArguments` flag works on the command line. Single process, several GPUs or several machines:

    python examples/train_bicpl.py --dataset built/ --text_model /models/chinese-medical-bert \
        --output_dir runs/bicpl --num_train_epochs 10 --per_device_train_batch_size 8 --lora_r 8 --setting A
    torchrun --nproc_per_node 4 examples/train_bicpl.py ...        # or: accelerate launch examples/train_bicpl.py ...

Stage 1 aligns ear ROIs with their side texts (`--contrastive_epochs`), stage 2 trains the prototypes
(`--num_train_epochs`); `--resume_from_checkpoint` skips a finished stage 1 and resumes stage 2. Every checkpoint
holds model + processor; `*_results.json` go to `--output_dir`. Without `--text_model` a small BERT is trained
from scratch with a character vocabulary built from the training reports (offline demo use).
"""

from __future__ import annotations

import sys

from bicpl_hf.commands.train import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
