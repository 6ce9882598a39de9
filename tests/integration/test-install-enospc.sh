#!/bin/sh
# T2 disk faults (TESTING.md) for dsvm-build install. A root holds release a of the test
# edition; release b is installed over it while strace makes the K-th write(2) fail with ENOSPC,
# for every K the run makes, and then the K-th fsync(2) fail with EIO. Each faulted run must
# either end with exit 74 and a message naming the path and the error, or (the fault hit a
# progress line on stderr) succeed; either way no file at a final path may be partial: every
# path outside the journal directory is, with its type, mode, size and hash, exactly as in
# release a's tree or as in release b's, and nothing of release a is missing. Then a run without
# faults must end in release b's tree. A run that succeeds over a fault without ending in
# release b's tree swallowed it (a write error taken for success): that is a failure.
set -eu
top=${DSVM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/tests/fixtures/install/setup.sh"
# strace is one of the packages 'make deps' installs: without it this tier is not run, a failure.
command -v strace >/dev/null || { echo "FAIL: strace is not installed; run 'make deps'"; exit 1; }
# ptrace may be forbidden in a container; strace then cannot run anything: the one skip.
strace -o /dev/null true 2>/dev/null || { echo "skip: strace cannot trace here (ptrace refused)"; exit 77; }
# LeakSanitizer cannot run under ptrace; runs outside strace still check for leaks.
notrace_leaks="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
install_setup
install_setup_b
inst() { "$bin" install "$@" --cache "$cache" --no-systemctl; }
outside_journal() { grep -v ' \./var/lib/dsvm/journal/' "$1"; }

inst "$lock" --root "$work/a" 2>"$work/err" || { echo "FAIL: install a: $(cat "$work/err")"; exit 1; }
cp -a "$work/a" "$work/ab"
inst "$lock_b" --root "$work/ab" 2>"$work/err" || { echo "FAIL: install b: $(cat "$work/err")"; exit 1; }
snapshot "$work/a" >"$work/a.tree"
snapshot "$work/ab" >"$work/ab.tree"
cmp -s "$work/a.tree" "$work/ab.tree" && { echo "FAIL: release b changes nothing"; exit 1; }
cat "$work/a.tree" "$work/ab.tree" | sort -u >"$work/either"

cp -a "$work/a" "$work/count"
ASAN_OPTIONS=$notrace_leaks strace -f -o "$work/trace" -e trace=write,fsync "$bin" install "$lock_b" --root "$work/count" \
	--cache "$cache" --no-systemctl 2>/dev/null
writes=$(grep -c ' write(' "$work/trace")
fsyncs=$(grep -c ' fsync(' "$work/trace")

fail=0
faulted=0
stderr_only=0
one() { # SYSCALL ERROR K
	r=$work/r
	rm -rf "$r"
	cp -a "$work/a" "$r"
	rc=0
	ASAN_OPTIONS=$notrace_leaks strace -f -o /dev/null -e trace="$1" -e inject="$1:error=$2:when=$3" \
		"$bin" install "$lock_b" --root "$r" --cache "$cache" --no-systemctl 2>"$work/err" || rc=$?
	what="$2 at $1 #$3"
	if [ "$rc" -eq 74 ]; then
		faulted=$((faulted + 1))
		grep -q "'$r/[^']*'.*$(case $2 in ENOSPC) echo 'No space left on device' ;; *) echo 'Input/output error' ;; esac)" "$work/err" ||
			{ echo "FAIL: $what: unclear message: $(cat "$work/err")"; fail=$((fail + 1)); return; }
	elif [ "$rc" -eq 0 ]; then
		stderr_only=$((stderr_only + 1))
	else
		echo "FAIL: $what: exit $rc, want 74: $(cat "$work/err")"
		fail=$((fail + 1))
		return
	fi
	snapshot "$r" >"$work/tree"
	outside_journal "$work/tree" >"$work/tree.final"
	if [ "$rc" -eq 0 ] && ! cmp -s "$work/tree" "$work/ab.tree"; then
		# Success over a fault that did not only hit a progress line: it was swallowed.
		echo "FAIL: $what: exit 0, but the tree is not release b's (the fault was swallowed):"
		grep -vxF -f "$work/ab.tree" "$work/tree" | head -3
		stderr_only=$((stderr_only - 1))
		fail=$((fail + 1))
		return
	fi
	if grep -qvxF -f "$work/either" "$work/tree.final"; then
		echo "FAIL: $what: a final path holds neither release's file:"
		grep -vxF -f "$work/either" "$work/tree.final" | head -5
		fail=$((fail + 1))
		return
	fi
	missing=$(awk '$1 != "f" {print $NF} $1 == "f" {print $(NF-1)}' "$work/a.tree" | while read -r p; do
		[ -e "$r/$p" ] || [ -L "$r/$p" ] || echo "$p"
	done)
	[ -z "$missing" ] || { echo "FAIL: $what: release a lost $missing"; fail=$((fail + 1)); return; }
	if ! inst "$lock_b" --root "$r" 2>"$work/err"; then
		echo "FAIL: $what: the run after the fault failed: $(cat "$work/err")"
		fail=$((fail + 1))
		return
	fi
	snapshot "$r" >"$work/tree"
	cmp -s "$work/tree" "$work/ab.tree" ||
		{ echo "FAIL: $what: the run after the fault did not end in release b's tree"; fail=$((fail + 1)); }
}
# Under the sanitizer build (the suite's second run) every third write and fsync is faulted:
# the plain pass faults each one.
every=1
[ -z "${DSVM_SANITIZED:-}" ] || every=3
k=1
while [ "$k" -le "$writes" ]; do one write ENOSPC "$k"; k=$((k + every)); done
k=1
while [ "$k" -le "$fsyncs" ]; do one fsync EIO "$k"; k=$((k + every)); done
total=$((writes + fsyncs))
[ "$faulted" -ge 10 ] || { echo "FAIL: only $faulted faults reached the install"; fail=$((fail + 1)); }
[ "$fail" -eq 0 ] || { echo "$fail of $total injected faults failed"; exit 1; }
[ "$every" -eq 1 ] && each=each || each="every ${every}rd"
echo "T2: $faulted/$faulted injected faults (ENOSPC on $each of $writes writes, EIO on $each of $fsyncs fsyncs; $stderr_only hit only a progress line) end in exit 74 naming the path, no partial file at a final path, the previous tree intact; the next run completes"
