#!/bin/sh
# A daemon that also clears its environment, so it carries no EVOLVE_RUN_ID.
sh -c 'env -i setsid sh -c "echo \$\$ >> pids; exec sleep 300" </dev/null >/dev/null 2>&1 &'
while [ ! -s pids ]; do sleep 0.01; done
echo '{"score": 1}'
