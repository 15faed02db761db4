#!/bin/sh
# Runs node:test suites one file at a time with the TAP log on stdout, and when something
# fails, repeats just the failing tests with their errors at the end of the output, where a
# CI log's tail shows them (a 16,000-line TAP log buries them otherwise).
# usage: scripts/node-test.sh SUMMARY-FILE FILE...
set -u
summary=$1
shift
mkdir -p "$(dirname "$summary")"
node --test --test-concurrency=1 --test-timeout=300000 \
	--test-reporter=tap --test-reporter-destination=stdout \
	--test-reporter=spec --test-reporter-destination="$summary" "$@"
rc=$?
if [ $rc -ne 0 ]; then
	echo "#"
	echo "# ---- the failing tests (from $summary) ----"
	sed -n '/failing tests:/,$p' "$summary" | head -n 300
fi
exit $rc
