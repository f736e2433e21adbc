#!/bin/bash
# The order the sections ran in (after the first 25 grid runs); each step resumes from the CSV.
# Slots were scarce (other helpers' benchmarks): the most decision-relevant runs go first.
cd "$(dirname "$0")/../../.." || exit 1
PY=.venv/bin/python
S=benchmarks/run_engines.py
$PY $S run target --variants default --seeds 0 2
$PY $S run bound --variants h16-core-maxlp-symmetry h1-core-maxlp-symmetry
$PY $S run target --variants highs --seeds 0
$PY $S run grid-priority
$PY $S run noheur
$PY $S run target --variants two-sided gd-hint --seeds 0
$PY $S run long
$PY $S run grid
