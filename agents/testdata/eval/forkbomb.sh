#!/bin/sh
# Many sleeping processes, some nested, some in their own process group.
i=0
while [ $i -lt 40 ]; do
  sleep 300 &
  echo $! >> pids
  i=$((i + 1))
done
i=0
while [ $i -lt 5 ]; do
  sh -c 'sleep 300 & echo $! >> pids; sleep 300 & echo $! >> pids; wait' &
  setsid sleep 300 &
  i=$((i + 1))
done
while [ "$(wc -l < pids)" -lt 50 ]; do sleep 0.01; done
if [ -n "${FORKBOMB_HANG:-}" ]; then sleep 300; fi
echo '{"score": 2}'
