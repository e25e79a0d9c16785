"""tether.functions"""
