#!/bin/sh
# 200 MB on stdout, then the result; exits with $BIG_EXIT.
head -c 200000000 /dev/zero
echo
echo "big error output" >&2
echo '{"score": 3}'
exit "${BIG_EXIT:-0}"
