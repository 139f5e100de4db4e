#!/usr/bin/env bash
# Loads Debian's memcached and zeus-memcache in turn with the same memcaslap run (90% get /
# 10% set, 100-byte values), alternating for ROUNDS rounds, and prints ops/s per round and
# the zeus/memcached ratio. Not a test: run it by hand on an otherwise idle machine.
#
#   benches/load/memcache.sh                    # 3 rounds × 10 s, 64 connections, 2 workers
#   ROUNDS=1 SECS=5 WORKERS=4 benches/load/memcache.sh
#
# Only throughput is compared: Debian's memcaslap prints no latency percentiles (p99 is not
# measured by this script).
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-3}
SECS=${SECS:-10}
CONNS=${CONNS:-64}
WORKERS=${WORKERS:-2}
MPM=${MPM:-process}
MEM_MB=${MEM_MB:-64}
TARGET=${CARGO_TARGET_DIR:-target}

command -v memcaslap >/dev/null || { echo "needs memcaslap (apt-get install libmemcached-tools)"; exit 1; }
command -v memcached >/dev/null || { echo "needs memcached (apt-get install memcached)"; exit 1; }
cargo build --release -q -p zeus-bin
ZEUS="$TARGET/release/zeus"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MC_PORT=$(free_port)
Z_PORT=$(free_port)
DIR=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT

user=(); [ "$(id -u)" = 0 ] && user=(-u root)
memcached "${user[@]}" -U 0 -l 127.0.0.1 -p "$MC_PORT" -m "$MEM_MB" -t 2 -c 4096 &
pids+=($!)

cat > "$DIR/zeus.toml" <<TOML
run_dir = "$DIR/run"
[logger]
show_banner = false
reporting_level = "warn"
[schedulers.bench]
multiprocessing_module = "$MPM"
start_processes = $WORKERS
max_processes = $WORKERS
min_spare_processes = 0
max_spare_processes = $WORKERS
max_process_tasks = 0
[services.mc]
scheduler_name = "bench"
service_adapter = "memcache"
[services.mc.service_settings]
listen_port = $Z_PORT
memory_limit = $((MEM_MB << 20))
max_connections = 4096
TOML
"$ZEUS" start --config "$DIR/zeus.toml" &
pids+=($!)

for port in "$MC_PORT" "$Z_PORT"; do
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
done

run() { # port -> ops/s
  memcaslap -s "127.0.0.1:$1" -T 2 -c "$CONNS" -X 100 -t "${SECS}s" 2>&1 |
    awk '/^Run time/ {for (i=1;i<=NF;i++) if ($i=="TPS:") print $(i+1)}'
}

printf "%-6s %-14s %10s\n" round server ops/s
mc_sum=0; z_sum=0
for r in $(seq "$ROUNDS"); do
  mt=$(run "$MC_PORT"); printf "%-6s %-14s %10s\n" "$r" memcached "$mt"
  zt=$(run "$Z_PORT");  printf "%-6s %-14s %10s\n" "$r" "zeus/$MPM" "$zt"
  mc_sum=$((mc_sum + mt)); z_sum=$((z_sum + zt))
done
python3 -c "print(f'zeus/memcached throughput ratio over $ROUNDS rounds: {$z_sum/$mc_sum:.2f}')"
