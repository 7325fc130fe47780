#!/bin/sh
echo "about to die"
echo "dying" >&2
kill -9 $$
