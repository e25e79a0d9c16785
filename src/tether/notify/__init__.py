"""tether.notify"""
