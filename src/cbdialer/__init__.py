"""cbdialer: a callback dialer for contact centres that run Asterisk."""

__version__ = "0.1.0"
