#!/bin/sh
# Evaluation command of the LLM serving scheduler demo: $1 is the program to score.
exec python3 -B "$(dirname "$0")/evaluator.py" "$1"
