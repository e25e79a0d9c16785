"""tether.envs: working out and preparing the Python environment a program needs."""
