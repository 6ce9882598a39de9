#!/bin/sh
# Locks that do not depend on where the repository is checked out (issue 9, section 4). The
# repository's manifests (and the scripts they name) are copied to two folders of different depth; each shipped edition is
# resolved in both (every driver kind staged), once by absolute path from '/' and once by a
# relative path with '..' in it from another working directory. The two locks and their SBOMs
# must be byte-identical and name no folder of this machine: inputs, 'path' artifacts and
# defined_at are repository paths that exist in the copy. fetch reads those files from the
# repository given with --repo (and without it from the working directory), and an error still
# names the file as the user gave it.
set -eu
top=${DSVM_TOP:?}
PATH="${DSVM_BUILD:-$top/build}:$PATH"
command -v jq >/dev/null || { echo "skip: jq is not installed (make deps)"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$top/tests/tools/check.sh"

a=$work/a
b=$work/elsewhere/much/deeper/checkout
mkdir -p "$a" "$b"
# What the manifests name: their own tree and the scripts the Windows edition runs.
for d in manifests packer; do
	cp -a "$top/$d" "$a/"
	cp -a "$top/$d" "$b/"
done

n=0
for ed in $(cd "$top/manifests/editions" && ls ./*.yaml); do
	ed=${ed#./}
	name=${ed%.yaml}
	n=$((n + 1))
	# Signer-pinned Windows installers await a maintainer's seal: resolve marks them so.
	if ! (cd / && dsvm-build resolve "$a/manifests/editions/$ed" --all-driver-kinds --allow-unsealed \
		-o "$work/$name.a.lock") 2>"$work/err"; then
		no "resolve $name in $a: $(cat "$work/err")"
		continue
	fi
	if ! (cd "$work/elsewhere" && dsvm-build resolve "much/deeper/checkout/manifests/components/../editions/$ed" \
		--all-driver-kinds --allow-unsealed -o "$work/$name.b.lock") 2>"$work/err"; then
		no "resolve $name in $b: $(cat "$work/err")"
		continue
	fi
	check "$name: the two locks differ: $(diff "$work/$name.a.lock" "$work/$name.b.lock" | head -n 6)" \
		cmp -s "$work/$name.a.lock" "$work/$name.b.lock"
	# Readers refuse a lock with an artifact awaiting its seal: the SBOM is then the driverless
	# lock's (as tests/tools/regen-golden.sh does).
	for side in a b; do
		l=$work/$name.$side.lock
		if grep -q '"awaiting"' "$l"; then
			dir=$a
			[ "$side" = a ] || dir=$b
			dsvm-build resolve "$dir/manifests/editions/$ed" --driver-kind none -o "$l.none" 2>"$work/err" ||
				no "resolve $name for none in $dir: $(cat "$work/err")"
			l=$l.none
		fi
		dsvm-build sbom "$l" -o "$work/$name.$side.sbom" 2>"$work/err" || no "sbom $name ($side): $(cat "$work/err")"
	done
	check "$name: the two SBOMs differ" cmp -s "$work/$name.a.sbom" "$work/$name.b.sbom"
	check "$name: a folder of this machine in the lock or SBOM: $(grep -h -o "$work[^\"]*" "$work/$name".[ab].* | head -n 3)" \
		sh -c "! grep -q '$work' '$work/$name.a.lock' '$work/$name.a.sbom'"
	# Every file the lock names, by a repository path that exists in the copy.
	jq -r '(.inputs[].path | select(startswith("catalog/") | not)),
		(.components[].artifacts[] | .path // empty),
		((.components + (.dropped // []))[].defined_at | sub(":[0-9]+:[0-9]+$"; ""))' \
		"$work/$name.a.lock" | sort -u >"$work/$name.names"
	check "$name: the lock names no repository file" [ -s "$work/$name.names" ]
	while read -r f; do
		case $f in
		/* | ./* | ../* | */../* | */./*) no "$name: '$f' is not a repository path" ;;
		*) check "$name: '$f' is not in the repository" [ -f "$a/$f" ] ;;
		esac
	done <"$work/$name.names"
	check "$name: the edition is an input by its repository path" \
		[ "$(jq -r '.inputs[0].path' "$work/$name.a.lock")" = "manifests/editions/$ed" ]
done
check "no edition resolved" [ "$n" -gt 0 ]

# fetch: the files the lock names by repository path, from --repo, from anywhere.
lock=$work/ubuntu-22.04.a.lock
jq '.components |= ([.[] | select(.artifacts != [] and all(.artifacts[]; has("path")))]
	| to_entries | map(.value.order = .key + 1 | .value))' "$lock" >"$work/local.lock"
n_path=$(jq '[.components[].artifacts[].sha256] | unique | length' "$work/local.lock")
check "the Ubuntu lock has repository files to fetch" [ "$n_path" -gt 0 ]
rc=0
(cd / && dsvm-build fetch "$work/local.lock" --repo "$b" --cache "$work/cache") >/dev/null 2>"$work/err" || rc=$?
check "fetch --repo: exit $rc: $(tail -n 3 "$work/err")" [ "$rc" -eq 0 ]
check "fetch --repo: $n_path files in the cache" [ "$(find "$work/cache" -maxdepth 1 -type f | wc -l)" -eq "$n_path" ]
for sha in $(jq -r '.components[].artifacts[].sha256' "$work/local.lock" | sort -u); do
	check "cache file $sha is what the lock says" [ "$(sha256sum <"$work/cache/$sha" | cut -d' ' -f1)" = "$sha" ]
done
rc=0
(cd "$a" && dsvm-build fetch "$work/local.lock" --cache "$work/cache2") >/dev/null 2>&1 || rc=$?
check "fetch from the repository's own folder without --repo: exit $rc" [ "$rc" -eq 0 ]
rc=0
(cd "$work" && dsvm-build fetch "$work/local.lock" --cache "$work/cache3") >/dev/null 2>"$work/err" || rc=$?
first=$(jq -r '[.components[].artifacts[].path][0]' "$work/local.lock")
check "fetch outside the repository without --repo fails (66), naming '$first' and --repo: exit $rc, $(tail -n 2 "$work/err")" \
	sh -c "[ $rc -eq 66 ] && grep -qF \"'$first'\" '$work/err' && grep -q -- '--repo DIR' '$work/err'"
[ -z "$(ls "$work/cache3" 2>/dev/null)" ] || no "a fetch refused for a missing repository file left files in the cache"
# A repository file changed after resolve is refused.
printf '# changed\n' >>"$b/$first"
rc=0
dsvm-build fetch "$work/local.lock" --repo "$b" --cache "$work/cache4" >/dev/null 2>"$work/err" || rc=$?
check "a changed repository file is refused (65): exit $rc" [ "$rc" -eq 65 ]

# A lock naming a file outside the repository is refused when loaded.
jq '.components[0].artifacts[0].path = "../../etc/passwd"' "$work/local.lock" >"$work/out.lock"
rc=0
dsvm-build fetch "$work/out.lock" --repo "$b" --cache "$work/cache5" >/dev/null 2>"$work/err" || rc=$?
check "a '..' repository path is refused (65): exit $rc, $(cat "$work/err")" sh -c "[ $rc -eq 65 ] && grep -q \"'..'\" '$work/err'"

# Messages keep naming the file as the user gave it.
comp=$(cd "$b/manifests/components" && ls ./*.yaml | head -n 1)
printf 'components: [\n' >"$b/manifests/components/${comp#./}"
rc=0
(cd "$work/elsewhere" && dsvm-build resolve much/deeper/checkout/manifests/editions/ubuntu-22.04.yaml \
	-o "$work/x.lock") 2>"$work/err" || rc=$?
check "a broken component file: 65 naming it as reached from the working directory: $rc, $(cat "$work/err")" \
	sh -c "[ $rc -eq 65 ] && grep -q 'much/deeper/checkout/manifests/.*${comp#./}:[0-9]*:[0-9]*' '$work/err'"

[ "$fail" -eq 0 ] || { echo "lock relocate: $fail failures"; exit 1; }
echo "lock relocate: $n editions resolve to byte-identical locks and SBOMs in two folders; $checks checks hold"
