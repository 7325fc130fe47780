#!/bin/sh
# Starts a daemon: double fork, new session, stdio detached.
sh -c 'setsid sh -c "echo \$\$ >> pids; exec sleep 300" </dev/null >/dev/null 2>&1 &'
while [ ! -s pids ]; do sleep 0.01; done
echo '{"score": 1}'
