#!/usr/bin/env bash
# A single-node SLURM cluster on localhost, with job accounting as real clusters have, so that
# sweeps sent through `hydra/launcher=submitit_slurm` run for real (tests, CI, trying it out).
#
#   scripts/slurm-local.sh up     install (Debian packages, as root) and start munged, MariaDB
#                                 (the accounting database), slurmdbd, slurmctld and slurmd;
#                                 wait until the node is idle
#   scripts/slurm-local.sh down   cancel leftover jobs, stop exactly the daemons `up` started
#
# With SLURM_LOCAL_ACCOUNTING=0, `up` starts no database and no slurmdbd: `sacct` then fails,
# as on clusters without accounting (the sweeps' bounded wait covers that case too).
#
# With SLURM_LOCAL_NODES=2, the cluster has two nodes, node1 and node2, each a slurmd in a
# network namespace of its own (slurm-node1, slurm-node2: its own address, 10.77.1.2 and
# 10.77.2.2, and its own hostname), reached from this machine through a veth pair each, so that
# multi-node runs (hydra.launcher.nodes=2) cross a network between hosts. The packaged slurmd
# cannot run twice in one namespace. `down` removes the namespaces again.
#
# The pids of what `up` started are recorded in $SLURM_LOCAL_STATE (default /run/slurm-local);
# `down` stops those and nothing else. Facts behind the settings: ../shared/docs/slurm-on-one-machine.md
set -euo pipefail

STATE=${SLURM_LOCAL_STATE:-/run/slurm-local}
CONF=/etc/slurm/slurm.conf
DBD_CONF=/etc/slurm/slurmdbd.conf
HOST=$(hostname -s)
ACCOUNTING=${SLURM_LOCAL_ACCOUNTING:-1}
NODES=${SLURM_LOCAL_NODES:-1}
# Two-node mode: the controller's address on the first veth pair, each node's namespace.
CTLD_ADDR=127.0.0.1
[ "$NODES" = 2 ] && CTLD_ADDR=10.77.1.1
PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)
DB_SOCKET=/run/mysqld/mysqld.sock

log() { echo "slurm-local: $*" >&2; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null &&
        command -v slurmdbd >/dev/null && command -v mariadbd >/dev/null; then
        return
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null; }
}

write_conf() {
    local memory accounting_storage=accounting_storage/none nodes
    memory=$(free -m | awk '/^Mem:/ {print int($2 * 0.95)}')
    [ "$ACCOUNTING" = 1 ] && accounting_storage=accounting_storage/slurmdbd
    mkdir -p /etc/slurm /run/slurm /var/log/slurm /var/spool/slurmctld /var/spool/slurmd
    if [ "$NODES" = 2 ]; then
        # Each node gets the machine's cores and half its memory (slurmd checks neither more).
        memory=$((memory / 2))
        nodes="NodeName=node1 NodeAddr=10.77.1.2 CPUs=$(nproc) RealMemory=${memory} State=UNKNOWN
NodeName=node2 NodeAddr=10.77.2.2 CPUs=$(nproc) RealMemory=${memory} State=UNKNOWN
PartitionName=local Nodes=node1,node2 Default=YES MaxTime=INFINITE State=UP"
    else
        nodes="NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=${memory} State=UNKNOWN
PartitionName=local Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP"
    fi
    cat >"$CONF" <<CONF
# Written by scripts/slurm-local.sh: ${NODES} node(s) on this machine.
ClusterName=local
SlurmctldHost=${HOST}(${CTLD_ADDR})
SlurmUser=root
AuthType=auth/munge
# How long a job credential lives, and so how long a requeued job waits before it starts again
# (Slurm's default: 120 s); the local jobs start within seconds.
AuthInfo=cred_expire=30
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
AccountingStorageType=${accounting_storage}
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/none
MailProg=/bin/true
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd-%n.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd-%n.log
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd/%n
${nodes}
CONF
}

# Two-node mode: a network namespace per node, joined to this machine by a veth pair.
make_node_namespaces() {
    sysctl -qw net.ipv4.ip_forward=1
    for n in 1 2; do
        local ns=slurm-node$n
        ip netns add "$ns"
        ip link add "slurm-h$n" type veth peer name "slurm-n$n"
        ip link set "slurm-n$n" netns "$ns"
        ip addr add "10.77.$n.1/24" dev "slurm-h$n"
        ip link set "slurm-h$n" up
        ip -n "$ns" addr add "10.77.$n.2/24" dev "slurm-n$n"
        ip -n "$ns" link set "slurm-n$n" up
        ip -n "$ns" link set lo up
        ip -n "$ns" route add default via "10.77.$n.1"
        # Mounted over /etc/hosts for the node's slurmd and its jobs: the node names resolve to
        # the nodes' own addresses there (the rendezvous of a multi-node run).
        mkdir -p "/etc/netns/$ns"
        printf '127.0.0.1 localhost\n10.77.1.1 %s\n10.77.1.2 node1\n10.77.2.2 node2\n' "$HOST" \
            >"/etc/netns/$ns/hosts"
    done
    echo "namespaces slurm-node1 slurm-node2" >>"$STATE/pids"
}

remove_node_namespaces() {
    for n in 1 2; do
        ip netns pids "slurm-node$n" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns del "slurm-node$n" 2>/dev/null || true
        ip link del "slurm-h$n" 2>/dev/null || true
        rm -rf "/etc/netns/slurm-node$n"
    done
}

start_slurmd() {  # start_slurmd NODE_NAME: a slurmd for that node, its pid recorded
    local name=$1
    mkdir -p "/var/spool/slurmd/$name"
    rm -f "/run/slurm/slurmd-$name.pid"
    if [ "$NODES" = 2 ]; then
        # Its own network namespace, its own hostname (how slurmd knows which node it is) and
        # its own /etc/hosts (node names to node addresses), in a private mount namespace that
        # keeps this machine's cgroup mounts (which `ip netns exec` would hide: slurmd needs
        # them). Job steps inherit all of it.
        nsenter --net="/run/netns/slurm-$name" unshare --mount --uts sh -c \
            "mount --bind /etc/netns/slurm-$name/hosts /etc/hosts && hostname $name &&
             exec slurmd -f $CONF"
    else
        slurmd -f "$CONF"
    fi
    wait_for 10 test -s "/run/slurm/slurmd-$name.pid"
    echo "slurmd $(cat "/run/slurm/slurmd-$name.pid")" >>"$STATE/pids"
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

write_dbd_conf() {
    # The database is reachable only through its local socket; the password guards nothing else.
    install -m 600 /dev/null "$DBD_CONF"
    cat >"$DBD_CONF" <<CONF
# Written by scripts/slurm-local.sh: accounting into the local MariaDB.
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
PidFile=/run/slurm/slurmdbd.pid
LogFile=/var/log/slurm/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StoragePort=3306
StorageUser=slurm
StoragePass=slurm-local
StorageLoc=slurm_acct_db
CONF
}

start_accounting() {
    mkdir -p /run/mysqld
    chown mysql:mysql /run/mysqld
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    # mariadbd stays in the foreground: start it in its own session, record its pid.
    rm -f /run/mysqld/mysqld.pid
    setsid runuser -u mysql -- /usr/sbin/mariadbd --datadir=/var/lib/mysql --socket="$DB_SOCKET" \
        --pid-file=/run/mysqld/mysqld.pid --bind-address=127.0.0.1 \
        >>/var/log/slurm/mariadb.log 2>&1 </dev/null &
    wait_for 60 test -S "$DB_SOCKET"
    wait_for 60 mariadb --socket="$DB_SOCKET" -e "SELECT 1"
    echo "mariadbd $(cat /run/mysqld/mysqld.pid)" >>"$STATE/pids"
    mariadb --socket="$DB_SOCKET" -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
        CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm-local';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
    write_dbd_conf
    rm -f /run/slurm/slurmdbd.pid
    slurmdbd
    wait_for 30 test -s /run/slurm/slurmdbd.pid
    echo "slurmdbd $(cat /run/slurm/slurmdbd.pid)" >>"$STATE/pids"
    wait_for 60 sacctmgr -n list cluster
    sacctmgr -i add cluster local >/dev/null 2>&1 || true
}

node_names() { if [ "$NODES" = 2 ]; then echo node1 node2; else echo "$HOST"; fi; }
node_idle() {  # every node of the cluster is idle
    local name
    for name in $(node_names); do
        [ "$(sinfo -h -n "$name" -o %T 2>/dev/null)" = idle ] || return 1
    done
}

# True when a daemon recorded in $STATE/pids still runs under its name (a pid alone may have been
# reused since a restart; a zombie runs nothing).
recorded_daemon_alive() {
    local name pid
    while read -r name pid; do
        [ "$name" = namespaces ] && continue
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] &&
            ! grep -q '^State:.*zombie' "/proc/$pid/status" 2>/dev/null && return 0
    done <"$STATE/pids"
    return 1
}

# The state of a cluster whose machine stopped without `down` (a container restart keeps /run on
# disk): its pids file and network namespaces. (Each daemon's stale pid file goes just before
# the daemon starts, so that `up` never records an old pid.)
clear_stale_state() {
    if grep -q '^namespaces' "$STATE/pids"; then remove_node_namespaces; fi
    rm -f "$STATE/pids"
}

up() {
    if [ -f "$STATE/pids" ]; then
        if recorded_daemon_alive; then
            log "already up (pids in $STATE/pids); run 'down' first"
            node_idle && return 0
            return 1
        fi
        log "none of the daemons in $STATE/pids runs (the machine stopped without 'down'):" \
            "clearing that state and starting afresh"
        clear_stale_state
    fi
    install_packages
    mkdir -p "$STATE" /run/munge
    chown munge:munge /run/munge
    [ -f /etc/munge/munge.key ] || mungekey --create
    : >"$STATE/pids"
    if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        rm -f /run/munge/munged.pid
        runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
        wait_for 10 test -s /run/munge/munged.pid
        echo "munged $(cat /run/munge/munged.pid)" >>"$STATE/pids"
    fi
    write_conf
    [ "$NODES" = 2 ] && make_node_namespaces
    [ "$ACCOUNTING" = 1 ] && start_accounting
    rm -f /run/slurm/slurmctld.pid
    # -c: without the jobs saved by an earlier cluster (one killed, not stopped by `down`, saved
    # them running), which would come back and hold the node.
    slurmctld -f "$CONF" -c
    wait_for 10 test -s /run/slurm/slurmctld.pid
    echo "slurmctld $(cat /run/slurm/slurmctld.pid)" >>"$STATE/pids"
    for name in $(node_names); do
        start_slurmd "$name"
    done
    for name in $(node_names); do
        scontrol update nodename="$name" state=resume >/dev/null 2>&1 || true
    done
    wait_for 60 node_idle
    if [ "$ACCOUNTING" = 1 ]; then
        wait_for 30 sacct -n -X
        log "node(s) $(node_names) idle; accounting (sacct) works"
    else
        log "node(s) $(node_names) idle; no accounting (sacct fails)"
    fi
}

down() {
    if [ ! -f "$STATE/pids" ]; then
        log "nothing recorded in $STATE/pids: nothing to stop"
        return 0
    fi
    squeue -h -o %i 2>/dev/null | xargs -r scancel 2>/dev/null || true
    # Reverse order of starting: slurmd, slurmctld, slurmdbd, mariadbd, munged.
    tac "$STATE/pids" | while read -r name pid; do
        if [ "$name" = namespaces ]; then
            remove_node_namespaces
            log "removed the network namespaces of node1 and node2"
        elif kill "$pid" 2>/dev/null; then
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
