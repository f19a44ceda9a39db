#!/usr/bin/env bash
# Install the Debian packages plinth's tests and audit use, only those missing.
# Without root we cannot install: say so and go on (the tests that need them skip with a reason).
set -euo pipefail
need=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v iperf3 >/dev/null 2>&1 || need+=(iperf3)
command -v fio >/dev/null 2>&1 || need+=(fio)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v tc >/dev/null 2>&1 || need+=(iproute2)
# the fabric tools' real runs: fi_pingpong (libfabric tcp provider), mpirun over SSH, ib_write_bw
command -v fi_pingpong >/dev/null 2>&1 || need+=(libfabric-bin)
command -v mpirun >/dev/null 2>&1 || need+=(openmpi-bin)
command -v ib_write_bw >/dev/null 2>&1 || need+=(perftest)
# the reports' real readers: a headless browser for the HTML report, Prometheus for the textfile
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-node-exporter >/dev/null 2>&1 || need+=(prometheus-node-exporter)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "note: missing ${need[*]} and not root; tests needing them will skip" >&2
  exit 0
fi
echo "==> apt-get install ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
