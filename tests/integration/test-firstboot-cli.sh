#!/bin/sh
# dsvm-firstboot plan/run/status/reset as a script sees them, on a small root that needs no
# package manager: the shipped Ubuntu 22.04 edition resolved for a CPU VM with every driver kind
# staged (the lock and catalog as `dsvm-build image` puts them in an image), a fixture sysroot
# of a CPU VM. Asserts the exit codes the README documents (64 usage, 65 a bad firstboot.conf
# naming file:line and value, 66 no lock, 75 the root lock held by another process, also for
# `dsvm-build install`), that plan changes nothing, that run converges and records, that a
# second run is a no-op which (under strace) opens no lock, catalog or journal, writes nothing,
# asks no network and takes no IMDS, that status and status --json say what happened, that
# reset makes the next run reconcile, and that every verb has a --help that exits 0.
set -eu
top=${DSVM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${DSVM_BUILD:-$top/build}
fb=$build/dsvm-firstboot
for tool in jq python3 strace; do
	command -v "$tool" >/dev/null || { echo "skip: $tool is not installed (make deps)"; exit 77; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$top/tests/tools/check.sh"

root=$work/root
mkdir -p "$root/usr/share/dsvm/hardware"
"$build/dsvm-build" resolve "$top/manifests/editions/ubuntu-22.04.yaml" --vm-size Standard_D4s_v5 \
	--all-driver-kinds -o "$root/usr/share/dsvm/lock.json" 2>/dev/null
cp "$top"/manifests/hardware/*.yaml "$root/usr/share/dsvm/hardware/"
python3 "$top/tests/tools/make-sysroot.py" "$work/fx" cpu-only t4 >/dev/null
sr=$work/fx/cpu-only
# The root lock is the one thing plan may create (it takes the lock like run).
tree() { find "$root" -mindepth 1 -printf '%p %y %m %s %T@\n' | grep -v "^$root/run" | sort; }

for verb in detect plan run status reset; do
	check "$verb --help exits 0 and teaches" sh -c "'$fb' $verb --help | grep -q '^Usage: dsvm-firstboot $verb'"
done
rc=0; "$fb" run --bogus 2>/dev/null || rc=$?
check "unknown option: exit $rc, want 64" [ "$rc" -eq 64 ]
rc=0; "$fb" reset 2>/dev/null || rc=$?
check "reset without --root: exit $rc, want 64" [ "$rc" -eq 64 ]
rc=0; "$fb" run --root "$work/empty-root" --sysroot "$sr" --no-imds 2>"$work/err" || rc=$?
check "no lock in the image: exit $rc, want 66: $(cat "$work/err")" [ "$rc" -eq 66 ]

# plan changes nothing.
tree >"$work/before"
"$fb" plan --root "$root" --sysroot "$sr" --no-imds >"$work/plan.txt"
"$fb" plan --root "$root" --sysroot "$sr" --no-imds --json >"$work/plan.json"
tree >"$work/after"
check "plan changed the root: $(diff "$work/before" "$work/after" | head -n 4)" cmp -s "$work/before" "$work/after"
check "plan lists its steps" grep -q '^   1\. notice' "$work/plan.txt"
check "plan --json: to none, steps: $(jq -c '[.to, (.steps | length)]' "$work/plan.json")" \
	[ "$(jq -r '.to + " " + (.steps | map(.outcome) | unique | join(","))' "$work/plan.json")" = "none planned" ]

# run converges and records; status says so.
"$fb" run --root "$root" --sysroot "$sr" --no-imds --json >"$work/run.json" 2>"$work/run.err"
check "run: converged to CPU: $(jq -c '[.outcome, .to]' "$work/run.json")" [ "$(jq -r '.outcome + " " + .to' "$work/run.json")" = "converged none" ]
check "run: every step reported on stderr" [ "$(grep -c '^dsvm-firstboot: \[' "$work/run.err")" -eq "$(jq '.steps | length' "$work/run.json")" ]
"$fb" status --root "$root" --json >"$work/status.json"
check "status --json: ok, CPU mode, vm size" [ "$(jq -r '[.result, .mode, .fingerprint.vm_size, .attempts] | join(" ")' "$work/status.json")" = "ok none Standard_D4s_v5 0" ]
check "status text" sh -c "'$fb' status --root '$root' | grep -q '^mode:       CPU'"
check "profile.d points at CPU" grep -q 'DSVM_ACCELERATOR=cpu' "$root/etc/profile.d/dsvm-env.sh"
check "no login line once converged" [ ! -e "$root/etc/dsvm/login-message" ]

# The no-op: nothing opened but the state, the root lock and the hardware; nothing written.
# LeakSanitizer cannot run under ptrace: off for this one call in the sanitizer build.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -qq -e trace=openat,open,creat,rename,renameat,renameat2,unlink,unlinkat,mkdir,connect,socket \
	-o "$work/trace" "$fb" run --root "$root" --sysroot "$sr" --no-imds >"$work/noop.txt"
check "second run: no-op" grep -q '^no-op:' "$work/noop.txt"
# (the root itself is opened to resolve paths inside it)
opened=$(grep -o '"[^"]*"' "$work/trace" | tr -d '"' | grep "^$root/" | sort -u | tr '\n' ' ')
check "no-op opened only the state and the root lock in the root: $opened" \
	[ "$opened" = "$root/run/dsvm.lock $root/var/lib/dsvm/state.json " ]
check "no-op: nothing renamed, removed or created: $(grep -E 'rename|unlink|creat|O_CREAT' "$work/trace" | grep -v dsvm.lock | head -n 3)" \
	sh -c "! grep -E 'rename|unlink|creat\(|O_CREAT' '$work/trace' | grep -v dsvm.lock | grep -q ."
check "no-op: no socket (no IMDS): $(grep -E 'socket|connect' "$work/trace" | head -n 2)" \
	sh -c "! grep -qE 'socket\(|connect\(' '$work/trace'"
check "no-op: no lock, catalog or journal read" sh -c "! grep -qE 'lock.json|hardware/|journal' '$work/trace'"

# The PCI inventory key (/proc/bus/pci/devices, one read): the first no-op with it scans and
# records it; the next skips the class of every function; a changed inventory scans again, and
# finds what changed.
sh "$top/tests/tools/proc-pci.sh" "$sr"
"$fb" run --root "$root" --sysroot "$sr" --no-imds >"$work/noop.txt"
key=$(jq -r .pci_inventory "$root/var/lib/dsvm/state.json")
check "no-op with a PCI inventory records its key: '$key'" sh -c "echo '$key' | grep -Eq '^[0-9a-f]{16}$'"
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -qq -e trace=openat,open \
	-o "$work/trace" "$fb" run --root "$root" --sysroot "$sr" --no-imds >"$work/noop.txt"
check "no-op with the key: still a no-op" grep -q '^no-op:' "$work/noop.txt"
check "no-op with the key: reads no function's class: $(grep -c '/class"' "$work/trace") opens" \
	sh -c "! grep -q 'sys/bus/pci/devices' '$work/trace'"
check "no-op with the key: reads the inventory" grep -q 'proc/bus/pci/devices' "$work/trace"
# A new function (a T4) that only the inventory shows changed: the scan runs and finds it.
cp -r "$sr" "$work/cpu-then-t4"
t4=$(cd "$work/fx/t4/sys/bus/pci/devices" && for d in *; do [ -e "$work/cpu-then-t4/sys/bus/pci/devices/$d" ] || echo "$d"; done)
check "the T4 fixture has one function the CPU one lacks: '$t4'" [ "$(echo "$t4" | wc -w)" -eq 1 ]
cp -a "$work/fx/t4/sys/devices/pci${t4%:*:*}:00" "$work/cpu-then-t4/sys/devices/"
cp -a "$work/fx/t4/sys/bus/pci/devices/$t4" "$work/cpu-then-t4/sys/bus/pci/devices/"
sh "$top/tests/tools/proc-pci.sh" "$work/cpu-then-t4"
"$fb" plan --root "$root" --sysroot "$work/cpu-then-t4" --no-imds --json >"$work/plan-t4.json"
check "changed inventory: the scan finds the T4: $(jq -c '[.outcome, .to]' "$work/plan-t4.json")" \
	[ "$(jq -r .to "$work/plan-t4.json")" = nvidia-open ]
# An inventory change that leaves the fingerprint alone (a disk): a no-op, and the new key kept.
printf '0100\t1af41042\t0\n' >>"$sr/proc/bus/pci/devices"
"$fb" run --root "$root" --sysroot "$sr" --no-imds >"$work/noop.txt"
key2=$(jq -r .pci_inventory "$root/var/lib/dsvm/state.json")
check "a disk more: still a no-op, new key recorded ($key -> $key2)" \
	sh -c "grep -q '^no-op:' '$work/noop.txt' && [ '$key2' != '$key' ] && [ -n '$key2' ]"

# The root lock: a second process waits for nobody; install and run both honour it.
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(3)' "$root/run/dsvm.lock" "$work/held" &
holder=$!
# Wait until it holds the lock (a loaded machine may take a while to start python).
for _ in $(seq 100); do [ -e "$work/held" ] && break; sleep 0.1; done
rc=0; "$fb" run --root "$root" --sysroot "$work/fx/t4" --no-imds 2>"$work/err" || rc=$?
check "run while the root lock is held: exit $rc, want 75: $(cat "$work/err")" [ "$rc" -eq 75 ]
rc=0; "$build/dsvm-build" install "$root/usr/share/dsvm/lock.json" --root "$root" --cache "$work/cache" 2>"$work/err" || rc=$?
check "install while the root lock is held: exit $rc, want 75: $(cat "$work/err")" [ "$rc" -eq 75 ]
wait "$holder"

# firstboot.conf: bad lines are named with file:line and value; a good one is taken.
mkdir -p "$root/etc/dsvm"
printf '# settings\nmax_attempts=2\nreboot=sometimes\n' >"$root/etc/dsvm/firstboot.conf"
"$fb" reset --root "$root" 2>/dev/null
rc=0; "$fb" run --root "$root" --sysroot "$sr" --no-imds 2>"$work/err" || rc=$?
check "bad firstboot.conf: exit $rc, want 65" [ "$rc" -eq 65 ]
check "bad firstboot.conf: names file:line and value: $(cat "$work/err")" grep -q "firstboot.conf:3: bad value 'sometimes' for 'reboot'" "$work/err"
printf 'max_attempts=2\nreboot=never\ndeadline_s=120\n' >"$root/etc/dsvm/firstboot.conf"

# reset: the next run reconciles again.
check "reset" "$fb" reset --root "$root"
check "status after reset: none" [ "$("$fb" status --root "$root" --json | jq -r .result)" = none ]
check "run after reset reconciles" sh -c "'$fb' run --root '$root' --sysroot '$sr' --no-imds --json 2>/dev/null | jq -e '.outcome == \"converged\"' >/dev/null"

[ "$fail" -eq 0 ] || { echo "firstboot cli: $fail of $checks checks failed"; exit 1; }
echo "firstboot cli: $checks checks hold (exit codes 0/64/65/66/75, plan changes nothing, the no-op opens only the state and the root lock)"
