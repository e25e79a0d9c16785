"""tether.web"""
