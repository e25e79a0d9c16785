"""tether.store"""
