#!/bin/sh
# What Python's json.dumps writes for float("nan").
echo '{"score": NaN, "metrics": {"loss": NaN}}'
