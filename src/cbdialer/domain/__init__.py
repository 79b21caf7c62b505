"""The pure core: no I/O and no clock reads; the time is always a parameter."""
