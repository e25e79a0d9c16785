"""tether.mail"""
