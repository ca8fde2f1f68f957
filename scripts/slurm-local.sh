#!/usr/bin/env bash
# A single-node SLURM cluster on localhost, so that sweeps sent through
# `hydra/launcher=submitit_slurm` run for real (tests, CI, trying the launcher out).
#
#   scripts/slurm-local.sh up     install (Debian packages, as root) and start munged, slurmctld
#                                 and slurmd; wait until the node is idle
#   scripts/slurm-local.sh down   cancel leftover jobs, stop exactly the daemons `up` started
#
# The pids of what `up` started are recorded in $SLURM_LOCAL_STATE (default /run/slurm-local);
# `down` stops those and nothing else. Facts behind the settings: ../shared/docs/slurm-on-one-machine.md
set -euo pipefail

STATE=${SLURM_LOCAL_STATE:-/run/slurm-local}
CONF=/etc/slurm/slurm.conf
HOST=$(hostname -s)

log() { echo "slurm-local: $*" >&2; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
        return
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null; }
}

write_conf() {
    local memory
    memory=$(free -m | awk '/^Mem:/ {print int($2 * 0.95)}')
    mkdir -p /etc/slurm /run/slurm /var/log/slurm /var/spool/slurmctld /var/spool/slurmd
    cat >"$CONF" <<CONF
# Written by scripts/slurm-local.sh: one node on localhost.
ClusterName=local
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MailProg=/bin/true
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=${memory} State=UNKNOWN
PartitionName=local Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP
CONF
}

wait_for() {  # wait_for SECONDS COMMAND...: until COMMAND succeeds, or fail
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS > deadline)); then
            log "timed out waiting for: $*"
            return 1
        fi
        sleep 0.5
    done
}

node_idle() { [ "$(sinfo -h -n "$HOST" -o %T 2>/dev/null)" = idle ]; }

up() {
    if [ -f "$STATE/pids" ]; then
        log "already up (pids in $STATE/pids); run 'down' first"
        node_idle && return 0
        return 1
    fi
    install_packages
    mkdir -p "$STATE" /run/munge
    chown munge:munge /run/munge
    [ -f /etc/munge/munge.key ] || mungekey --create
    : >"$STATE/pids"
    if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
        wait_for 10 test -s /run/munge/munged.pid
        echo "munged $(cat /run/munge/munged.pid)" >>"$STATE/pids"
    fi
    write_conf
    slurmctld -f "$CONF"
    wait_for 10 test -s /run/slurm/slurmctld.pid
    echo "slurmctld $(cat /run/slurm/slurmctld.pid)" >>"$STATE/pids"
    slurmd -f "$CONF"
    wait_for 10 test -s /run/slurm/slurmd.pid
    echo "slurmd $(cat /run/slurm/slurmd.pid)" >>"$STATE/pids"
    scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
    wait_for 60 node_idle
    log "node $HOST is idle"
}

down() {
    if [ ! -f "$STATE/pids" ]; then
        log "nothing recorded in $STATE/pids: nothing to stop"
        return 0
    fi
    squeue -h -o %i 2>/dev/null | xargs -r scancel 2>/dev/null || true
    # Reverse order of starting: slurmd, slurmctld, munged.
    tac "$STATE/pids" | while read -r name pid; do
        if kill "$pid" 2>/dev/null; then
            wait_for 15 bash -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null || true
            log "stopped $name ($pid)"
        fi
    done
    rm -f "$STATE/pids"
}

case "${1:-}" in
up) up ;;
down) down ;;
*)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
