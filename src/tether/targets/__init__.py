"""tether.targets"""
