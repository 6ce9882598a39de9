# shellcheck shell=sh disable=SC2034 # the variables set here are for the sourcing script
# Start tests/tools/testhttpd.py for a shell test. Source this file, then:
#   testhttpd_start WORKDIR [testhttpd.py options...]
# It starts the server in the background with --port-file and --log under WORKDIR, waits (5 s
# at most) for the port, and sets testhttpd_pid, testhttpd_port and testhttpd_log. The caller
# kills "$testhttpd_pid" in its EXIT trap. Returns 1, after printing the server's stderr, when
# the server does not come up. Set testhttpd_script=testhttpsd.py for the TLS variant (it also
# takes --cert and --key).
testhttpd_start() {
	_dir=$1
	shift
	python3 "${DSVM_TOP:-$(dirname "$0")/../..}/tests/tools/${testhttpd_script:-testhttpd.py}" \
		--port-file "$_dir/testhttpd.port" \
		--log "$_dir/testhttpd.log" "$@" >/dev/null 2>"$_dir/testhttpd.err" &
	testhttpd_pid=$!
	testhttpd_log=$_dir/testhttpd.log
	_i=0
	while [ ! -s "$_dir/testhttpd.port" ]; do
		_i=$((_i + 1))
		if [ "$_i" -ge 100 ] || ! kill -0 "$testhttpd_pid" 2>/dev/null; then
			echo "testhttpd did not start:" >&2
			cat "$_dir/testhttpd.err" >&2
			return 1
		fi
		sleep 0.05
	done
	testhttpd_port=$(cat "$_dir/testhttpd.port")
}
