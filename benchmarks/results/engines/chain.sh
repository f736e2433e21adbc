#!/bin/bash
# The order the sections ran in (after the grid); each step resumes from the CSV.
cd "$(dirname "$0")/../../.." || exit 1
PY=.venv/bin/python
S=benchmarks/run_engines.py
while pgrep -f "run_engines.py run grid" >/dev/null; do sleep 10; done
$PY $S run target --variants default --seeds 0 1 2
$PY $S run target --variants highs two-sided gd-hint --seeds 0
$PY $S run bound --variants h16-core-maxlp-symmetry h1-default h1-core-maxlp-symmetry
$PY $S run noheur
$PY $S run long
