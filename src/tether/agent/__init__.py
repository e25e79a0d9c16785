"""tether.agent"""
