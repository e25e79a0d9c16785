#!/bin/bash -l
#SBATCH --job-name=tether
#SBATCH --partition=batch
#SBATCH --time=1-00:00:00
#SBATCH --cpus-per-task=4
#SBATCH --gres=gpu:v100:1
#SBATCH --nodes=1
#SBATCH --mail-type=END
##SBATCH --exclusive  (disabled directive, left as is)

# site setup: $# and ${#list[@]} are shell, not placeholders
module load cuda/12.1
cd /scratch
export WANDB_MODE=offline
echo "started $(date)" job
srun python3 train.py --lr 1e-3
