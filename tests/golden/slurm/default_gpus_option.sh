#!/bin/bash
#SBATCH --mem=16000M
#SBATCH --gpus=4
#SBATCH --time=01:00:00

cd ~/project
python3 main.py
