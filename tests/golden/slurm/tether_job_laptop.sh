#!/bin/bash
#SBATCH --job-name=train.py
#SBATCH --output=/home/me/.tether/slurm/jobs/0f0e0d0c-uuid/output.log
#SBATCH --cpus-per-task=8
#SBATCH --mem=4G
#SBATCH --gres=gpu:a100:2
#SBATCH --time=01:30:00
#SBATCH --partition=debug
#SBATCH --exclusive
#SBATCH --mail-type=END

cd /home/me/tether/projects/proj
export TETHER_JOB_DIR=/home/me/.tether/slurm/jobs/0f0e0d0c-uuid
export TETHER_JOB_NUMBER=7
export TETHER_JOB_UUID=0f0e0d0c-uuid
export PYTHONUNBUFFERED=1
/home/me/.tether/venv/bin/python train.py 'it'"'"'s; $(rm -rf ~)'
