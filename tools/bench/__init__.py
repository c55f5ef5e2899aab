"""`make bench`: start the stack and the service, drive load, compare against baselines.

Run as `python -m tools.bench` from the repository root. Every number is measured in ONE run on
the same machine, and every target is a ratio between two numbers of that run, because the two
cores are shared by the service, MariaDB, Redis, Kafka and the load generators alike.
"""
