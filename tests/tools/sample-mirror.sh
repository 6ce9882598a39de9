#!/bin/sh
# The sample mirror on loopback: tests/tools/testhttpd.py serving what make-sample-mirror.py
# generates.
#   sample-mirror.sh start DIR [make-sample-mirror.py options...]
#       Starts the server on a free port in the background (serving DIR/www), writes
#       DIR/server.pid and DIR/base-url (http://127.0.0.1:PORT/files), then runs the generator
#       for that URL (it rebuilds the artifacts only when it or the apt-repo script changed) and
#       checks the server answers. Prints the base URL, then the sample edition's path. A server
#       already running for DIR is reused. On failure the server is stopped and the exit code
#       is the generator's (or 1 when the server does not come up).
#   sample-mirror.sh stop DIR
#       Stops that server; nothing to stop is not an error.
# The server's stderr and request log are DIR/server.err and DIR/server.log.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)

usage() {
	echo "usage: sample-mirror.sh start DIR [make-sample-mirror.py options...] | stop DIR" >&2
	exit 64
}

# The pid in DIR/server.pid, if it is alive and is our server for this DIR (a pid file left by
# a crash may name a recycled pid: never signal a process that is not ours).
server_pid() {
	[ -s "$dir/server.pid" ] || return 1
	pid=$(cat "$dir/server.pid")
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "testhttpd.py --dir $dir/www " || return 1
	echo "$pid"
}

stop() {
	if pid=$(server_pid); then
		kill "$pid" 2>/dev/null || true
		i=0
		while kill -0 "$pid" 2>/dev/null; do
			i=$((i + 1))
			if [ "$i" -ge 100 ]; then
				kill -9 "$pid" 2>/dev/null || true
				break
			fi
			sleep 0.05
		done
	fi
	rm -f "$dir/server.pid" "$dir/server.port" "$dir/base-url"
}

# GET URL; true when it answers 200.
http_ok() {
	if command -v curl >/dev/null; then
		curl -fsS --noproxy '*' -o /dev/null --max-time 5 "$1"
	else
		python3 -c 'import sys, urllib.request as u
u.install_opener(u.build_opener(u.ProxyHandler({})))
u.urlopen(sys.argv[1], timeout=5).read()' "$1"
	fi
}

start() {
	if ! pid=$(server_pid); then
		rm -f "$dir/server.pid" "$dir/server.port" "$dir/base-url"
		# Our own stdio for the server, so a pipe on ours (make run | tee) is not held open.
		python3 "$top/tests/tools/testhttpd.py" --dir "$dir/www" --port-file "$dir/server.port" \
			--log "$dir/server.log" </dev/null >/dev/null 2>"$dir/server.err" &
		pid=$!
		echo "$pid" >"$dir/server.pid"
		i=0
		while [ ! -s "$dir/server.port" ]; do
			i=$((i + 1))
			if [ "$i" -ge 200 ] || ! kill -0 "$pid" 2>/dev/null; then
				echo "sample-mirror: the loopback server did not start; its stderr:" >&2
				cat "$dir/server.err" >&2
				stop
				exit 1
			fi
			sleep 0.05
		done
	fi
	port=$(cat "$dir/server.port")
	base="http://127.0.0.1:$port/files"
	rc=0
	edition=$(python3 "$top/tests/tools/make-sample-mirror.py" --out "$dir" --base-url "$base" "$@") ||
		rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "sample-mirror: make-sample-mirror.py failed (exit $rc, its message is above);" \
			"server stopped" >&2
		stop
		exit "$rc"
	fi
	if ! http_ok "$base/apt/InRelease"; then
		echo "sample-mirror: the server on port $port does not serve '$dir/www/apt/InRelease'" >&2
		stop
		exit 1
	fi
	printf '%s\n' "$base" >"$dir/base-url.tmp"
	mv "$dir/base-url.tmp" "$dir/base-url"
	echo "$base"
	echo "$edition"
}

[ $# -ge 2 ] || usage
cmd=$1
dir=$2
shift 2
case $cmd in
start)
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd -P)
	start "$@"
	;;
stop)
	[ $# -eq 0 ] || usage
	[ -d "$dir" ] || exit 0
	dir=$(cd "$dir" && pwd -P)
	stop
	;;
*) usage ;;
esac
