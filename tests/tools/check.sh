# shellcheck shell=sh disable=SC2034 # sourced by tests/integration/test-*.sh
# The assertion helpers of the integration tests: `check DESCRIPTION COMMAND...` runs COMMAND
# and counts a failure (printing DESCRIPTION) when it fails; `no DESCRIPTION` counts one
# directly. A test ends with `[ "$fail" -eq 0 ]` and its figure, from $checks.
fail=0
checks=0
no() { echo "FAIL $*"; fail=$((fail + 1)); }
check() { # DESCRIPTION COMMAND...
	checks=$((checks + 1))
	d=$1
	shift
	"$@" || no "$d"
}
