#!/bin/sh
# Never ends.
echo $$ >> pids
echo "looping"
while :; do :; done
