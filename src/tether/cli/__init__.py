"""tether.cli"""
