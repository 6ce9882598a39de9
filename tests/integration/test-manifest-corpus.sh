#!/bin/sh
# T5: every bad manifest is rejected with exit 65 and an error naming file:line:col plus the
# expected words. Each case carries its expectation on its first line: "# expect: L:C: words"
# (position in this file), "# expect: parts/F:L:C: words" (position in an included file), or
# "# expect: words" (position checked generically). Some cases are generated here because they
# are too large or too odd to keep as files.
set -eu
top=${DSVM_TOP:?}
corpus="$top/tests/fixtures/manifests/bad"
catalog="$top/manifests/hardware"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Generated cases: over 1 MiB, nested 100 deep, invalid UTF-8.
{
	echo "# expect: 1:1: file is larger than"
	echo "components:"
	i=0
	while [ $i -lt 24000 ]; do echo "  - {name: c$i, kind: service, source: {unit: c$i.service}}"; i=$((i + 1)); done
} >"$tmp/oversized.yaml"
{
	echo "# expect: nesting deeper than"
	printf 'a: '
	i=0
	while [ $i -lt 100 ]; do printf '['; i=$((i + 1)); done
	i=0
	while [ $i -lt 100 ]; do printf ']'; i=$((i + 1)); done
	echo
} >"$tmp/deep.yaml"
printf '# expect: YAML syntax error\ncomponents:\n  - name: "\377\376"\n' >"$tmp/bad-utf8.yaml"
# Few nodes but many bytes: a 400 KB string repeated through 100 aliases.
python3 - "$tmp/alias-bytes.yaml" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("# expect: bytes of text after expanding aliases\n")
    f.write('big: &x "' + "x" * 400000 + '"\n')
    f.write("list: [" + ", ".join(["*x"] * 100) + "]\n")
PY
# 60,000 keys in one mapping with the duplicate last (a pairwise check takes seconds here).
python3 - "$tmp/many-keys.yaml" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("# expect: 60002:1: duplicate key 'k00000' (first at line 2)\n")
    f.writelines("k%05d: 1\n" % i for i in range(60000))
    f.write("k00000: 2\n")
PY

total=0
ok=0
for f in "$corpus"/*.yaml "$corpus"/editions/*.yaml "$tmp"/*.yaml; do
	total=$((total + 1))
	expect=$(sed -n '1s/^# expect: //p' "$f")
	if [ -z "$expect" ]; then
		echo "FAIL $f: no '# expect:' line"
		continue
	fi
	rc=0
	dsvm-build validate --catalog "$catalog" "$f" >"$tmp/out" 2>"$tmp/err" || rc=$?
	# Split "[parts/F:]L:C: words" into the position and the words; both must appear.
	pos=$(printf '%s' "$expect" | sed -n 's/^\(\(parts\/[^:]*:\)\{0,1\}[0-9][0-9]*:[0-9][0-9]*:\) .*/\1/p')
	words=${expect#"$pos"}
	words=${words# }
	case "$pos" in
	parts/*) pos="$(dirname "$f")/$pos" ;;
	[0-9]*) pos="$f:$pos" ;;
	esac
	if [ "$rc" -ne 65 ]; then
		echo "FAIL $(basename "$f"): exit $rc, want 65: $(cat "$tmp/err")"
	elif [ -n "$pos" ] && ! grep -qF -- "$pos" "$tmp/err"; then
		echo "FAIL $(basename "$f"): stderr lacks position '$pos':"
		sed 's/^/    /' "$tmp/err"
	elif ! grep -qF -- "$words" "$tmp/err"; then
		echo "FAIL $(basename "$f"): stderr lacks '$words':"
		sed 's/^/    /' "$tmp/err"
	elif ! grep -qE ':[0-9]+:[0-9]+: ' "$tmp/err"; then
		echo "FAIL $(basename "$f"): no file:line:col in: $(cat "$tmp/err")"
	else
		ok=$((ok + 1))
	fi
done
echo "T5: $ok/$total bad manifests rejected with exit 65 and file:line:col"
[ "$ok" -eq "$total" ]
