#!/bin/bash
#SBATCH --time=00:10:00
#SBATCH --dependency=afterok:4101:4102,afterany:4099

cd ~/project
python3 evaluate.py
