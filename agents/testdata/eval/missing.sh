#!/bin/sh
echo '{"metrics": {"accuracy": 0.9}, "feedback": "forgot the score"}'
