#!/bin/sh
# Small Windows executables for the signer-pin tests, made here and now: a program built with
# mingw-w64 with a VERSIONINFO resource (windres) in versions 1.2.3.4 and 2.0.0.0, a test CA made
# with openssl (root "dsvm Test Root CA" -> "dsvm Test Code Signing CA" -> leaves "dsvm Test
# Vendor" and an impostor, plus a leaf under another root), and osslsigncode signatures:
#   good.exe        1.2.3.4 signed by the vendor        good-again.exe  the same, signed again
#   newer.exe       2.0.0.0 signed by the vendor        impostor.exe    signed by another subject
#   stray.exe       signed under another root            unsigned.exe    no signature
#   tampered.exe    good.exe with one byte changed after signing
# and root.pem (the trust anchor to verify with). Private keys stay in OUT: never commit them.
# Usage: make-signed-exes.sh OUT
set -eu
[ $# -eq 1 ] || { echo "usage: make-signed-exes.sh OUT" >&2; exit 64; }
for tool in x86_64-w64-mingw32-gcc x86_64-w64-mingw32-windres osslsigncode openssl; do
	command -v "$tool" >/dev/null || { echo "make-signed-exes: $tool is missing (make deps)" >&2; exit 69; }
done
x=$1
mkdir -p "$x"
printf 'int main(void) { return 0; }\n' >"$x/main.c"
for v in 1,2,3,4 2,0,0,0; do
	cat >"$x/v.rc" <<EOF
1 VERSIONINFO
FILEVERSION $v
PRODUCTVERSION $v
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904b0"
    BEGIN
      VALUE "FileVersion", "$v"
      VALUE "ProductName", "dsvm seal test"
    END
  END
  BLOCK "VarFileInfo"
  BEGIN
    VALUE "Translation", 0x409, 1200
  END
END
EOF
	x86_64-w64-mingw32-windres "$x/v.rc" -O coff -o "$x/v.o"
	x86_64-w64-mingw32-gcc -Os -s -Wl,--no-insert-timestamp -o "$x/setup-$(echo "$v" | tr , .).exe" "$x/main.c" "$x/v.o"
done
cat >"$x/ext.cnf" <<'EOF'
[ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[leaf]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=codeSigning
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
ossl() { openssl "$@" 2>/dev/null; }
ossl req -x509 -newkey rsa:2048 -nodes -keyout "$x/root.key" -out "$x/root.pem" -days 2 \
	-subj "/CN=dsvm Test Root CA" -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign
ossl req -x509 -newkey rsa:2048 -nodes -keyout "$x/other.key" -out "$x/other.pem" -days 2 \
	-subj "/CN=Other Root CA" -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign
issue() { # issue NAME SUBJECT CA-NAME EXTENSION
	ossl req -newkey rsa:2048 -nodes -keyout "$x/$1.key" -out "$x/$1.csr" -subj "$2"
	ossl x509 -req -in "$x/$1.csr" -CA "$x/$3.pem" -CAkey "$x/$3.key" -CAcreateserial \
		-out "$x/$1.pem" -days 2 -extfile "$x/ext.cnf" -extensions "$4"
}
issue int "/CN=dsvm Test Code Signing CA" root ca
issue vendor "/C=US/ST=Washington/L=Redmond/O=dsvm Test Vendor/OU=Build 7/CN=dsvm Test Vendor" int leaf
issue impostor "/C=US/O=Impostor Corp/CN=dsvm Test Vendor Inc" int leaf
issue stray "/C=US/O=dsvm Test Vendor/CN=dsvm Test Vendor" other leaf
sign() { # sign LEAF CHAIN-CA IN OUT [DESCRIPTION]
	cat "$x/$1.pem" "$x/$2.pem" >"$x/chain.pem"
	osslsigncode sign -certs "$x/chain.pem" -key "$x/$1.key" -n "${5:-dsvm seal test}" \
		-in "$3" -out "$4" >/dev/null
}
sign vendor int "$x/setup-1.2.3.4.exe" "$x/good.exe"
sign vendor int "$x/setup-1.2.3.4.exe" "$x/good-again.exe" "signed again" # same file, new bytes
sign vendor int "$x/setup-2.0.0.0.exe" "$x/newer.exe"
sign impostor int "$x/setup-1.2.3.4.exe" "$x/impostor.exe"
sign stray other "$x/setup-1.2.3.4.exe" "$x/stray.exe"
cp "$x/setup-1.2.3.4.exe" "$x/unsigned.exe"
cp "$x/good.exe" "$x/tampered.exe"
printf 'X' | dd of="$x/tampered.exe" bs=1 seek=1100 conv=notrunc 2>/dev/null
