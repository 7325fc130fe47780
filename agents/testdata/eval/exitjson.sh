#!/bin/sh
echo '{"score": 9, "feedback": "crashed late", "metrics": {"steps": 10}}'
echo "traceback" >&2
exit 3
