#!/bin/sh
# eniplan: runs "$@" (the routing script, or the agent's reconcile run) until it succeeded
# and the network stack held still from its start to half a second after its end; at
# most 40 runs. Exit status: the last run's.
#
# The units that link changes start run their command through this file. systemd starts
# no second run for a change that comes while one runs: a path unit stops watching while
# the unit it started runs (systemd's path.c, path_enter_running: path_unwatch), and a
# start request (NetworkManager's dispatcher) merges into the start job under way.
# Measured with `eniplan lab --boot` under load: `netplan apply` reconfigures a link twice
# within 50-150 ms; the path unit started the script between the two, or before networkd
# had the address back, the script found it gone (exit 1), networkd added it back as the
# script ended, and nothing ran again: the ENI's table stayed empty. networkd's state
# files lag too: `networkctl` said "configured" 80 ms after networkd logged "Configuring",
# and a link's state file is rewritten only when its content changes. So the run looks
# again itself: after each run it waits half a second, and runs again if the run failed
# (what it needs, such as the address networkd adds back, comes later) or if networkd's
# link state or lease files (a write replaces the file: a new inode; a lease lost removes
# one) or the event file NetworkManager's dispatcher touches changed since the run began.
state() {
    stat -c '%i %y' /run/systemd/netif/links/* /run/systemd/netif/leases/* \
        /run/eniplan-nm-event 2>/dev/null
}
runs=0 seen=none rc=1
while :; do
    now=$(state)
    if [ "$now" = "$seen" ] && [ "$rc" -eq 0 ]; then
        exit 0
    fi
    if [ $((runs += 1)) -gt 40 ]; then
        exit "$rc"
    fi
    seen=$now
    "$@"
    rc=$?
    sleep 0.5
done
