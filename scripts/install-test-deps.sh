#!/usr/bin/env bash
# install-test-deps.sh - Debian packages the tether test suite needs (Debian 12, root).
#
# Idempotent: asks dpkg-query what is already installed and only runs
# 'apt-get update' + 'apt-get install' when something is missing.  Installing
# never starts a system daemon (sshd, dovecot, munge, slurm...): a policy-rc.d
# that denies service starts is put in place for the duration of the install
# when the machine does not already have one.  The test rigs (tests/rigs/)
# start their own private daemons on loopback instead.
#
# Python packages are NOT handled here (another script does pip).
#
# Usage: sudo scripts/install-test-deps.sh        (extra packages may be passed as args)
set -euo pipefail

PACKAGES=(
  # ssh rig: server + client, file sync, second "host" in a network namespace
  openssh-server openssh-client rsync iproute2 nftables
  # mail rig: IMAP server + LMTP delivery, certificates
  dovecot-core dovecot-imapd dovecot-lmtpd openssl ca-certificates
  # slurm rig: single-node cluster
  munge slurm-wlm slurmctld slurmd slurm-client
  # remote side runs Debian's python3 with venv support
  python3 python3-venv
  # throwaway users and process teardown (useradd/userdel, pkill, setpriv/unshare)
  passwd procps util-linux
  # browser tests
  chromium fonts-liberation
  # local queue backend, version control
  task-spooler git
  # remote command quoting is checked under zsh too (tests/test_ssh_command.py)
  zsh
)
PACKAGES+=("$@")

log() { printf '[install-test-deps %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  log "must run as root (apt-get install)"
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  log "all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

log "missing: ${missing[*]}"

# keep package postinst scripts from starting daemons on standard ports
made_policy=0
cleanup() { if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\n# temporary: deny service starts during install-test-deps.sh\nexit 101\n' \
    > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  made_policy=1
fi

APT=(apt-get -o DPkg::Lock::Timeout=600)
t0=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
"${APT[@]}" update -qq
"${APT[@]}" install -y -qq --no-install-recommends "${missing[@]}"
log "installed ${#missing[@]} package(s) in $(( $(date +%s) - t0 )) s"

# verify: everything must now be installed
still=()
for p in "${missing[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || still+=("$p")
done
if [ ${#still[@]} -ne 0 ]; then
  log "still missing after install: ${still[*]}"
  exit 1
fi
