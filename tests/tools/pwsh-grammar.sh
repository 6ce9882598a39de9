#!/bin/sh
# SPDX-License-Identifier: MIT
# Install the PowerShell syntax checker: the tree-sitter-pwsh grammar's generated C parser
# (npm package tree-sitter-pwsh, MIT, wharflab/tree-sitter-powershell), fetched with npm's own
# client, checked against the integrity hash the npm registry publishes for this version, and
# compiled with tests/tools/pwsh-check/ps1check.c against Debian's libtree-sitter-dev (0.20.7
# loads this grammar's ABI 14). No node at check time. Into an ignored folder, never committed:
#   ${DSVM_PWSH_GRAMMAR_DIR:-TOP/.deps/tree-sitter-pwsh-VERSION}/ps1check
# Idempotent: an installed checker built from the same pinned tarball is kept.
# Exit 0 installed, 1 failed (the message says why), 77 no network and nothing installed.
# The tarball's URL: https://registry.npmjs.org/tree-sitter-pwsh/-/tree-sitter-pwsh-0.38.1.tgz
set -eu

VERSION=0.38.1
# `npm view tree-sitter-pwsh@0.38.1 dist.integrity` (registry.npmjs.org); WINDOWS.md section 5.
INTEGRITY=sha512-vf92XvOapTJkARHv2pB29yccIA0kdSTSOuuurhkxdaiKO0+FLzSUIPJwewNZKsU2RafdcJyn+ugeBf5btPROsQ==

top=$(cd "$(dirname "$0")/../.." && pwd)
dir=${DSVM_PWSH_GRAMMAR_DIR:-$top/.deps/tree-sitter-pwsh-$VERSION}
src=$top/tests/tools/pwsh-check/ps1check.c

if [ -x "$dir/ps1check" ] && [ "$(cat "$dir/integrity" 2>/dev/null)" = "$INTEGRITY" ] &&
	[ "$dir/ps1check" -nt "$src" ]; then
	echo "pwsh-grammar: tree-sitter-pwsh $VERSION checker present in $dir"
	exit 0
fi

if [ ! -f /usr/include/tree_sitter/api.h ]; then
	echo "pwsh-grammar: /usr/include/tree_sitter/api.h missing: run 'make deps' (libtree-sitter-dev)" >&2
	exit 1
fi

mkdir -p "$dir"
work=$(mktemp -d "$dir/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT

tgz=$dir/tree-sitter-pwsh-$VERSION.tgz
if [ ! -f "$tgz" ]; then
	# npm's own client where it is installed, else the registry's tarball URL with curl; the
	# integrity check below decides either way.
	if command -v npm >/dev/null 2>&1; then
		(cd "$work" && npm pack "tree-sitter-pwsh@$VERSION" --silent >/dev/null 2>"$work/fetch.err") || true
	else
		curl -fsSL --proto =https -o "$work/tree-sitter-pwsh-$VERSION.tgz" \
			"https://registry.npmjs.org/tree-sitter-pwsh/-/tree-sitter-pwsh-$VERSION.tgz" 2>"$work/fetch.err" || true
	fi
	if [ ! -s "$work/tree-sitter-pwsh-$VERSION.tgz" ]; then
		echo "pwsh-grammar: cannot fetch tree-sitter-pwsh@$VERSION: $(tail -1 "$work/fetch.err")" >&2
		exit 77
	fi
	mv "$work/tree-sitter-pwsh-$VERSION.tgz" "$tgz"
fi

got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
if [ "$got" != "$INTEGRITY" ]; then
	echo "pwsh-grammar: $tgz has integrity $got, the registry publishes $INTEGRITY; removed it" >&2
	rm -f "$tgz"
	exit 1
fi

tar -xzf "$tgz" -C "$work" package/src package/LICENSE
cc -O1 -std=gnu11 -w -I"$work/package/src" -o "$work/ps1check" "$src" \
	"$work/package/src/parser.c" "$work/package/src/scanner.c" -ltree-sitter
cp "$work/package/LICENSE" "$dir/LICENSE"
mv "$work/ps1check" "$dir/ps1check"
echo "$INTEGRITY" >"$dir/integrity"
echo "pwsh-grammar: built $dir/ps1check from tree-sitter-pwsh $VERSION"
