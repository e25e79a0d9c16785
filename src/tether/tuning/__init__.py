"""tether.tuning"""
