#!/usr/bin/env bash
# Installs the Debian packages flow's commands need and the machine lacks.
#   .ci/system-deps.sh        what `npm run quickstart` needs: a C++ toolchain (better-sqlite3 builds
#                             from source), Python venv support (the managed Python environment) and
#                             DejaVu fonts (text in the eval step's PNG chart)
#   .ci/system-deps.sh test   plus what the test suite drives: tmux (TUI end-to-end), Chromium
#                             (HTML report) and Slurm with munge (the single-node test cluster)
# Without root or apt-get it only says what is missing.
set -euo pipefail
need=()
command -v g++ >/dev/null || need+=(g++ make)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
fc-list 2>/dev/null | grep -qi dejavu || need+=(fonts-dejavu-core fontconfig)
if [ "${1:-}" = test ]; then
  command -v tmux >/dev/null || need+=(tmux)
  command -v chromium >/dev/null || need+=(chromium)
  { command -v sbatch >/dev/null && [ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/slurmd ]; } || need+=(slurm-wlm)
  [ -x /usr/sbin/munged ] || need+=(munge)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "system-deps: apt-get install ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "system-deps: please install these Debian packages first: ${need[*]}" >&2
  exit 1
fi
