"""Plumbing shared by the benchmarks (bench/claim.py, bench/dialer.py, bench/api.py, bench/chaos.py), one module
per concern: output (the run's clock, percentiles, the report table), machine (CPU and pressure from /proc),
databases (creating, seeding, loading, dropping), cli (the command line and the measuring run), ami (the
benchmarks' own AMI sessions: the one AMI test client), daemon (cbdialer's daemon in-process through
cbdialer.app.build_daemon, with the bench's timing wrappers), http (a minimal HTTP client), isolated (a
PostgreSQL server, a sandbox PBX and `cbdialer run` processes of a bench's own).

Rule: no measuring of the product here, only the tools for it; the product's SQL is never copied here.
The bench files import this package as `support` (they run with bench/ on sys.path)."""
