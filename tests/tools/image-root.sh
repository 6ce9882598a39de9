# Set-up shared by the tests that need an image root built from the sample mirror
# (test-image, test-firstboot-boot, test-firstboot-resize, test-firstboot-crash). Sourced, after
# `top` and `build` are set:
#
#   image_setup TOOL...   skip (exit 77) without one of the tools, fail without root; makes
#                         $work, starts the sample mirror ($mirror, $edition: its Ubuntu 22.04
#                         edition) and installs the EXIT trap that stops it and removes $work
#   image_root DIR [ARG...]
#                         a Debian root at DIR (tests/tools/debootstrap-root.sh) with
#                         `dsvm-build image` of $edition for an A100 VM in it; ARGs go to image
#   fresh_root BASE ROOT  ROOT as an overlay on BASE where the kernel allows it (instant), else
#                         a copy; overlays are unmounted on exit
#
# A test may define image_cleanup: it runs first at exit.
mounted=

image_exit() {
	rc=$?
	if command -v image_cleanup >/dev/null 2>&1; then
		image_cleanup || true
	fi
	for m in $mounted; do
		umount "$m" 2>/dev/null || true
	done
	sh "$top/tests/tools/sample-mirror.sh" stop "$mirror" >/dev/null 2>&1 || true
	rm -rf "$work"
	exit "$rc"
}

image_setup() { # TOOL...
	for tool in python3 debootstrap zstd "$@"; do
		command -v "$tool" >/dev/null || { echo "skip: $tool is not installed (make deps)"; exit 77; }
	done
	[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root: apt-get and dpkg run chrooted into the root"; exit 1; }
	work=$(mktemp -d)
	mirror=$work/mirror
	trap image_exit EXIT
	sh "$top/tests/tools/sample-mirror.sh" start "$mirror" >"$work/mirror.out" 2>&1 ||
		{ echo "FAIL: sample mirror: $(cat "$work/mirror.out")"; exit 1; }
	edition=$mirror/sample/manifests/editions/sample-ubuntu-22.04.yaml
}

image_root() { # DIR [ARG...]
	dir=$1
	shift
	sh "$top/tests/tools/debootstrap-root.sh" "$dir" 2>"$work/root.err" ||
		{ echo "FAIL: debootstrap root: $(cat "$work/root.err")"; exit 1; }
	"$build/dsvm-build" image "$edition" --root "$dir" --vm-size Standard_NC24ads_A100_v4 \
		--cache "$work/cache" --no-systemctl "$@" >"$work/image.out" 2>&1 ||
		{ echo "FAIL: dsvm-build image:"; tail -n 20 "$work/image.out"; exit 1; }
}

fresh_root() { # BASE ROOT
	umount "$2" 2>/dev/null || true
	rm -rf "$2" "$2.upper" "$2.work"
	if mkdir -p "$2" "$2.upper" "$2.work" &&
		mount -t overlay overlay -o "lowerdir=$1,upperdir=$2.upper,workdir=$2.work" "$2" 2>/dev/null; then
		case " $mounted " in *" $2 "*) ;; *) mounted="$mounted $2" ;; esac
		return
	fi
	rm -rf "$2" "$2.upper" "$2.work"
	cp -a "$1" "$2"
}
