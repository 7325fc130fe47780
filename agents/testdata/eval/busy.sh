#!/bin/sh
# Runs a helper in the background for a while and checks it survived
# other evaluations finishing at the same time.
sleep 300 &
helper=$!
sleep 1.5
if kill -0 $helper 2>/dev/null; then
  echo '{"score": 1}'
else
  echo "my helper was killed by someone else" >&2
  exit 1
fi
