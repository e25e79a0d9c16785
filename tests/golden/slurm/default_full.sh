#!/bin/bash
#SBATCH --job-name=train-resnet
#SBATCH --output=/scratch/alice/runs/%j/out.log
#SBATCH --error=/scratch/alice/runs/%j/err.log
#SBATCH --cpus-per-task=8
#SBATCH --mem=1536M
#SBATCH --gres=gpu:a100:2
#SBATCH --time=1-12:00:00
#SBATCH --partition=gpu
#SBATCH --account=lab-42
#SBATCH --qos=high
#SBATCH --constraint=a100&ib
#SBATCH --array=0-9%2
#SBATCH --exclusive
#SBATCH --mail-type=END,FAIL
#SBATCH --signal=B:USR1@120

cd /home/alice/project
export TETHER_JOB=17
export OMP_NUM_THREADS=8
python3 -u train.py --epochs 10
