#!/bin/bash
#SBATCH --job-name="it's #1 \"best\" job"
#SBATCH --output="/scratch/my runs/%x-%j.out"
#SBATCH --account="proj\\x"

cd ~/'dir with '"'"'quotes'"'"' $HOME'
export PLAIN=value
export SPACES='a b  c'
export QUOTES='it'"'"'s "quoted"'
export DOLLAR='$PATH `id` $(id)'
export NEWLINE=$'one\ntwo'
export EMPTY=''
python3 train.py --name 'it'"'"'s a "test"' '$HOME' '`id`' '$(touch /tmp/tether-pwned)' 'a;b|c&d' $'two\nlines' '*' '#not-a-comment' '' 'ünïcode ✓'
