#!/bin/sh
# firstboot/dsvm-firstboot.service and firstboot/cloud-config.yaml as systemd and cloud-init see
# them. The unit: `systemd-analyze verify` prints nothing, for the unit alone (its ExecStart
# pointed at the built agent, since verify fails on a missing binary) and for a boot transaction
# that wants it together with multi-user.target, the cloud-init stages installed here (Debian's
# 22.4.2) and a stand-in for cloud-init-network.service (cloud-init 24.3 and later), where verify
# reports any ordering cycle; the ordering facts stated in the unit's comments, read from the
# file; mutants that break a fact or close the cloud-init cycle are caught, so the checks can
# fail. Then the unit boots under a real systemd (systemd-nspawn, tests/tools/boot-root.sh) with
# its ExecStart replaced by a 2 s sleep and stand-ins for the units it orders against: from the
# root's journal, read from outside, the units it must precede start after it finished, ssh and
# user sessions start while it runs, multi-user.target waits for it. The cloud-config: `cloud-init
# schema` accepts it (and rejects a broken copy) and its bootcmd starts the unit.
# Needs root (systemd-nspawn), systemd-analyze, cloud-init, jq, python3 (make deps).
set -eu
top=${DSVM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${DSVM_BUILD:-$top/build}
unit=$top/firstboot/dsvm-firstboot.service
config=$top/firstboot/cloud-config.yaml
for tool in systemd-analyze cloud-init jq python3 systemd-nspawn journalctl debootstrap zstd; do
	command -v "$tool" >/dev/null || { echo "skip: $tool is not installed (make deps)"; exit 77; }
done
[ -x "$build/dsvm-firstboot" ] || { echo "FAIL: $build/dsvm-firstboot is not built (make)"; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (systemd-nspawn)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$top/tests/tools/check.sh"
vendor=/lib/systemd/system

# The units it must run before, and those it must never be before (logins stay open).
precede="nvidia-persistenced.service nvidia-fabricmanager.service nvidia-dcgm.service
nvidia-gridd.service nvidia-imex.service containerd.service docker.service
display-manager.service jupyterhub.service apt-daily.service apt-daily-upgrade.service
unattended-upgrades.service multi-user.target shutdown.target"
never_before="ssh.service sshd.service systemd-user-sessions.service sysinit.target basic.target"
follow="sysinit.target local-fs.target systemd-udev-trigger.service systemd-modules-load.service
cloud-init-local.service cloud-init.service cloud-init-network.service"

# values FILE SECTION KEY: every value of KEY in [SECTION], one a line, as systemd reads a list:
# repeated lines add; an empty assignment resets the list, except for the dependency keys, where
# systemd ignores it (config_parse_unit_deps).
values() {
	awk -v sec="[$2]" -v key="$3" -v deps="After Before Wants Requires Requisite BindsTo PartOf Conflicts" '
		/^[ \t]*[#;]/ || /^[ \t]*$/ { next }
		/^\[/ { in_sec = ($0 == sec); next }
		in_sec {
			i = index($0, "=")
			if (i == 0) next
			k = substr($0, 1, i - 1)
			gsub(/[ \t]+$/, "", k)
			if (k != key) next
			v = substr($0, i + 1)
			if (v ~ /^[ \t]*$/) {
				if (index(" " deps " ", " " key " ") == 0) n = 0
				next
			}
			m = split(v, a, /[ \t]+/)
			for (j = 1; j <= m; j++) if (a[j] != "") out[++n] = a[j]
		}
		END { for (j = 1; j <= n; j++) print out[j] }' "$1"
}
has() { values "$1" "$2" "$3" | grep -qxF "$4"; }
# unit_file NAME: where this machine (or the stand-ins in $stubs) keeps unit NAME, if anywhere.
unit_file() {
	for d in "$stubs" "$vendor"; do
		[ -f "$d/$1" ] && { echo "$d/$1"; return 0; }
	done
	return 1
}

# A stand-in for the network stage of cloud-init 24.3 and later, where this machine's cloud-init
# has none: the ordering lines of canonical/cloud-init's systemd/cloud-init-network.service.tmpl
# for the debian and ubuntu variants (the debian one, which also waits for networkd).
stubs=$work/stubs
mkdir -p "$stubs"
[ -f "$vendor/cloud-init-network.service" ] || cat >"$stubs/cloud-init-network.service" <<'EOF'
[Unit]
DefaultDependencies=no
Wants=cloud-init-local.service
After=cloud-init-local.service
After=systemd-networkd-wait-online.service
After=networking.service
Before=network-online.target
Before=sshd-keygen.service
Before=sshd.service
Before=systemd-user-sessions.service
Before=sysinit.target
Before=shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
ExecStart=/bin/true
RemainAfterExit=yes
EOF
[ -f "$vendor/cloud-init.service" ] ||
	{ echo "FAIL: cloud-init's units are not installed (make deps)"; exit 1; }

# Everything cloud-init's network stage is after, through the After= lines of each unit found.
: >"$work/ci-after"
todo="cloud-init.service cloud-init-network.service"
while [ -n "$todo" ]; do
	next=
	for u in $todo; do
		f=$(unit_file "$u") || continue
		for a in $(values "$f" Unit After); do
			grep -qxF "$a" "$work/ci-after" && continue
			echo "$a" >>"$work/ci-after"
			next="$next $a"
		done
	done
	todo=$next
done
check "cloud-init's network stage is after cloud-init-local.service" \
	grep -qxF cloud-init-local.service "$work/ci-after"

# facts FILE: one line per ordering fact FILE breaks; sets $nfacts to how many were checked.
facts() {
	nfacts=0
	f=$1
	[ "$(values "$f" Unit DefaultDependencies)" = no ] || echo "DefaultDependencies is not 'no'"
	nfacts=$((nfacts + 1))
	for u in $precede; do
		nfacts=$((nfacts + 1))
		has "$f" Unit Before "$u" || echo "not Before=$u"
	done
	nfacts=$((nfacts + 1))
	has "$f" Unit Conflicts shutdown.target || echo "not Conflicts=shutdown.target"
	for u in $follow; do
		nfacts=$((nfacts + 1))
		has "$f" Unit After "$u" || echo "not After=$u"
	done
	for u in $never_before; do
		nfacts=$((nfacts + 1))
		! has "$f" Unit Before "$u" || echo "Before=$u (must never be)"
	done
	for u in $(values "$f" Unit Before); do
		nfacts=$((nfacts + 1))
		! grep -qxF "$u" "$work/ci-after" ||
			echo "Before=$u, which cloud-init's network stage is after (a cycle via sysinit.target)"
		nfacts=$((nfacts + 1))
		! has "$f" Unit After "$u" || echo "both Before= and After=$u"
	done
	nfacts=$((nfacts + 1))
	has "$f" Install WantedBy multi-user.target || echo "not WantedBy=multi-user.target"
	nfacts=$((nfacts + 1))
	[ "$(values "$f" Service Type)" = oneshot ] && [ "$(values "$f" Service RemainAfterExit)" = yes ] ||
		echo "not Type=oneshot with RemainAfterExit=yes"
	nfacts=$((nfacts + 1))
	[ "$(values "$f" Service ExecStart | tr '\n' ' ')" = "/usr/sbin/dsvm-firstboot run " ] ||
		echo "ExecStart is not '/usr/sbin/dsvm-firstboot run'"
	# Bounded, and above the agent's own deadline (deadline_s=900 by default).
	nfacts=$((nfacts + 1))
	limit=$(values "$f" Service TimeoutStartSec)
	secs=$(echo "$limit" | sed -n -e 's/^\([0-9][0-9]*\)s\{0,1\}$/\1/p' \
		-e 's/^\([0-9][0-9]*\)min$/\1 60/p' -e 's/^\([0-9][0-9]*\)h$/\1 3600/p' |
		awk 'NF { print $1 * ($2 ? $2 : 1) }')
	[ -n "$secs" ] && [ "$secs" -gt 900 ] && [ "$secs" -le 3600 ] ||
		echo "TimeoutStartSec '$limit' is not bounded above the agent's 900 s deadline (at most 1h)"
	! grep -q '\\$' "$f" || echo "continuation lines (not read by this test)"
}
facts "$unit" >"$work/facts"
check "ordering facts: $(cat "$work/facts")" [ ! -s "$work/facts" ]
held=$nfacts

# Mutants: each breaks one fact and must be caught.
mutants=0
mutant() { # NAME SED-SCRIPT
	sed "$2" "$unit" >"$work/mutant-$1"
	check "mutant '$1' is the unit unchanged" sh -c "! cmp -s '$unit' '$work/mutant-$1'"
	facts "$work/mutant-$1" >"$work/mutant-$1.facts"
	check "mutant '$1' not caught by the ordering facts" [ -s "$work/mutant-$1.facts" ]
	mutants=$((mutants + 1))
}
# Lines a mutant drops are taken out of whichever list line holds them.
drop() { echo "/^$1=/{s/=$2\$/=/;s/=$2 /=/;s/ $2 / /;s/ $2\$//;/^$1=\$/d;}"; } # KEY UNIT: sed
mutant before-ssh '/^\[Unit\]$/a Before=ssh.service'
mutant no-persistenced "$(drop Before nvidia-persistenced.service)"
mutant before-networking '/^\[Unit\]$/a Before=networking.service'
mutant default-deps 's/^DefaultDependencies=no$/DefaultDependencies=yes/'
mutant not-after-cloud-init-network "$(drop After cloud-init-network.service)"
mutant unbounded 's/^TimeoutStartSec=.*/TimeoutStartSec=infinity/'

# systemd-analyze verify: the unit alone, then a boot transaction, where cycles show.
# verify_dir DIR UNITFILE: DIR gets the unit (ExecStart at the built agent), the stand-ins, and
# dsvm-test-boot.target wanting it with everything it names that exists here.
verify_dir() {
	mkdir -p "$1"
	sed "s|^ExecStart=/usr/sbin/dsvm-firstboot |ExecStart=$build/dsvm-firstboot |" "$2" >"$1/dsvm-firstboot.service"
	cp "$stubs"/* "$1/"
	wants="dsvm-firstboot.service multi-user.target cloud-config.service cloud-final.service"
	# The consumers it precedes, where not installed here, as their packages ship them: with
	# default dependencies. What it follows is wanted only where installed (or stood in for).
	for u in $(values "$2" Unit Before); do
		case $u in
		shutdown.target) ;;
		*.target) wants="$wants $u" ;;
		*)
			[ -f "$vendor/$u" ] || [ -f "$1/$u" ] ||
				printf '[Service]\nType=oneshot\nExecStart=/bin/true\n' >"$1/$u"
			wants="$wants $u"
			;;
		esac
	done
	for u in $(values "$2" Unit After) cloud-init-network.service; do
		if [ -f "$vendor/$u" ] || [ -f "$1/$u" ]; then
			wants="$wants $u"
		fi
	done
	printf '[Unit]\nDescription=dsvm test: a boot\nWants=%s\n' "$wants" >"$1/dsvm-test-boot.target"
}
# analyze DIR FILE: what verify says with only DIR and the vendor units on the unit path, and its
# exit status when not 0 (it exits 0 on ordering cycles: its stderr is what counts).
analyze() {
	(cd "$1" && SYSTEMD_UNIT_PATH="$1:$vendor" systemd-analyze verify --man=no "$2" >/dev/null 2>"$work/verify.err") ||
		echo "exit $?"
	cat "$work/verify.err"
}
verify_dir "$work/v" "$unit"
out=$(analyze "$work/v" "$work/v/dsvm-firstboot.service")
check "systemd-analyze verify (the unit): $out" [ -z "$out" ]
out=$(analyze "$work/v" "$work/v/dsvm-test-boot.target")
check "systemd-analyze verify (a boot with cloud-init): $out" [ -z "$out" ]
# The trap FIELD-NOTES describes: Before= cloud-init's network stage, after sysinit.target.
sed -e "$(drop After cloud-init.service)" -e "$(drop After cloud-init-network.service)" \
	-e '/^\[Unit\]$/a Before=cloud-init.service cloud-init-network.service' \
	"$unit" >"$work/cycle.service"
verify_dir "$work/vc" "$work/cycle.service"
out=$(analyze "$work/vc" "$work/vc/dsvm-test-boot.target")
check "verify missed the ordering cycle of a unit before cloud-init's network stage" \
	sh -c "echo '$out' | grep -q 'ordering cycle'"
mutants=$((mutants + 1))
out=$(analyze "$work/v" "$work/v/no-such.service")
check "verify said nothing of a unit file that does not exist: its stderr is not being read" [ -n "$out" ]

# A boot under systemd: the unit as shipped, its ExecStart a 2 s sleep, stand-ins enabled for
# every unit it orders against and for ssh.
root=$work/root
sh "$top/tests/tools/debootstrap-root.sh" "$root" 2>"$work/root.err" ||
	{ echo "FAIL: debootstrap root: $(cat "$work/root.err")"; exit 1; }
sysd=$root/etc/systemd/system
install -m 0644 "$unit" "$sysd/dsvm-firstboot.service"
mkdir -p "$sysd/dsvm-firstboot.service.d"
printf '[Service]\nExecStart=\nExecStart=/bin/sleep 2\n' >"$sysd/dsvm-firstboot.service.d/test.conf"
standins=
for u in $precede ssh.service sshd.service; do
	case $u in *.target) continue ;; esac
	printf '[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n' >"$sysd/$u"
	standins="$standins $u"
done
# shellcheck disable=SC2086 # the list is split on purpose
systemctl --root="$root" enable dsvm-firstboot.service $standins >/dev/null 2>&1
# boot UNITFILE: boot the root with UNITFILE as the unit; $work/jobs gets "UNIT EVENT
# MONOTONIC_USEC" for every start job of that boot, EVENT being "starting" or the job's result
# (done, failed, canceled...), from the root's journal read from outside.
boot() {
	install -m 0644 "$1" "$sysd/dsvm-firstboot.service"
	rc=0
	sh "$top/tests/tools/boot-root.sh" "$root" 120 --private-network >"$work/console" 2>&1 || rc=$?
	check "boot: nspawn exit $rc: $(tail -n 5 "$work/console")" [ "$rc" -eq 0 ]
	journalctl -D "$root/var/log/journal" -b -o json --no-pager 2>/dev/null |
		jq -r 'select(.JOB_TYPE == "start" and .UNIT != null)
			| "\(.UNIT) \(.JOB_RESULT // "starting") \(.__MONOTONIC_TIMESTAMP)"' \
			>"$work/jobs"
	done_at=$(at dsvm-firstboot.service "done")
	check "boot: dsvm-firstboot.service never finished: $(grep dsvm "$work/jobs")" [ -n "$done_at" ]
	done_at=${done_at:-0}
}
at() { awk -v u="$1" -v e="$2" '$1 == u && $2 == e { print $3; exit }' "$work/jobs"; }
between() { [ "$1" -lt "$2" ] && [ "$2" -lt "$3" ]; } # LOW X HIGH
# when UNIT: when UNIT's start job began (a target: when it was reached), 0 if never.
when() {
	case $1 in *.target) t=$(at "$1" "done") ;; *) t=$(at "$1" starting) ;; esac
	echo "${t:-0}"
}
boot "$unit"
seen=0
for u in $precede; do
	case $u in shutdown.target) continue ;; esac
	t=$(when "$u")
	check "boot: $u at $t, before dsvm-firstboot finished ($done_at)" [ "$t" -gt "$done_at" ]
	seen=$((seen + 1))
done
for u in ssh.service sshd.service systemd-user-sessions.service; do
	t=$(when "$u")
	check "boot: $u at $t, not while dsvm-firstboot ran (until $done_at)" between 0 "$t" "$done_at"
	seen=$((seen + 1))
done
# The same boot with the unit no longer before persistenced or multi-user.target: seen.
sed -e "$(drop Before nvidia-persistenced.service)" -e "$(drop Before multi-user.target)" \
	"$unit" >"$work/loose.service"
boot "$work/loose.service"
t=$(when nvidia-persistenced.service)
check "boot: persistenced at $t waited for a unit not ordered before it ($done_at)" between 0 "$t" "$done_at"
mutants=$((mutants + 1))
install -m 0644 "$unit" "$sysd/dsvm-firstboot.service"

# The cloud-config.
rc=0
out=$(cloud-init schema --config-file "$config" 2>"$work/schema.err") || rc=$?
check "cloud-init schema: exit $rc, '$out' $(cat "$work/schema.err")" \
	[ "$rc:$out:$(cat "$work/schema.err")" = "0:Valid cloud-config: $config:" ]
check "cloud-config: bootcmd does not start dsvm-firstboot.service" python3 -c '
import sys, yaml
cmds = yaml.safe_load(open(sys.argv[1])).get("bootcmd") or []
sys.exit(0 if any("dsvm-firstboot.service" in (c if isinstance(c, str) else " ".join(c)) for c in cmds) else 1)' "$config"
sed 's/^bootcmd:$/bootcmd: 3\nignored:/' "$config" >"$work/bad.yaml"
rc=0
cloud-init schema --config-file "$work/bad.yaml" >/dev/null 2>&1 || rc=$?
check "cloud-init schema accepted a bootcmd that is not a list" [ "$rc" -ne 0 ]

[ "$fail" -eq 0 ]
echo "unit: systemd-analyze verify silent (alone and in a boot with cloud-init), $held ordering" \
	"facts hold, $mutants/$mutants mutants caught, $seen orderings seen in a real boot;" \
	"cloud-config: schema valid"
