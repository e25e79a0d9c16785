"""tether.notifications: what to send, where, and the senders."""
