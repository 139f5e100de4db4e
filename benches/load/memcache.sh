#!/usr/bin/env bash
# Compatibility wrapper: the memcache load comparison lives in memcache.py (throughput with
# memaslap and mc-load, p99 with mc-load, every MPM, memory per item). Environment variables
# ROUNDS and SECS still work; other options are passed on (see memcache.py --help).
#
#   benches/load/memcache.sh                       # 3 alternating rounds × 10 s
#   ROUNDS=1 SECS=5 benches/load/memcache.sh --mpms process
set -euo pipefail
exec python3 "$(dirname "$0")/memcache.py" "$@"
