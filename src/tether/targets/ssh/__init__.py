"""The SSH target: host specs, ssh/rsync command lines and readable ssh failures."""
