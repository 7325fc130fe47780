#!/bin/sh
echo "hello"
echo "{this is not json}"
echo "something went wrong" >&2
