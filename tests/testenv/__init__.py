"""Launchers for the real components the tests talk to: MinIO, a kwok cluster, runsc.

Each launcher starts a real process on loopback, waits until it answers, and tears it
down (process group and all) even when the test that used it failed. Binaries come
from the cache that `tests/env/build-components.sh` fills; nothing here downloads.
"""
