#!/bin/sh
# mkcerts.sh DIR -- make a throw-away PKI for the outbox TLS tests.
#
# Creates in DIR:
#   ca.pem ca.key                 test CA (CN=outbox test CA), 3 days
#   server.pem server.key         leaf for localhost, signed by ca.pem, 2 days
#   wrongname.pem wrongname.key   leaf for wrong.example, signed by ca.pem
#   otherca.pem                   an unrelated second CA (its key is thrown away)
#   untrusted.pem untrusted.key   leaf for localhost, signed by otherca.pem
#
# All certificates are X.509 v3, RSA 2048, sha256WithRSAEncryption, with the
# extensions BearSSL's minimal X.509 engine expects (it refuses unknown
# critical extensions and wants keyUsage/EKU consistent with TLS server use).
# Leaf .pem files hold the leaf alone: tests trust the CA directly.
# Our own openssl config is used so the system openssl.cnf cannot add or
# change extensions behind our back.

usage() { echo "usage: $0 DIR" >&2; exit 64; }
if [ $# -ne 1 ] || [ -z "$1" ]; then usage; fi
dir=$1

die() {
	echo "mkcerts.sh: $*" >&2
	[ -s "$work/err" ] && sed 's/^/  openssl: /' "$work/err" >&2
	exit 1
}

umask 077	# keys must end up 0600; certificates are chmod'ed 0644 below
mkdir -p "$dir" || { echo "mkcerts.sh: cannot create $dir" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/mkcerts.XXXXXX") ||
	{ echo "mkcerts.sh: mktemp failed" >&2; exit 1; }
trap 'rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM
: >"$work/err"

# openssl chatters on stderr even on success; keep the last command's stderr
# for the error report only.
ossl() { openssl "$@" >/dev/null 2>"$work/err"; }

command -v openssl >/dev/null 2>&1 || die "openssl not found"

# One config file for everything: a minimal [req] section (no prompting, DN
# taken from -subj) and one extension section per certificate kind.
cat >"$work/ossl.cnf" <<'CNF' || die "cannot write config"
[ req ]
distinguished_name = req_dn
prompt             = no
[ req_dn ]
CN = unused
[ ca_ext ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
[ leaf_localhost ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:localhost
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
[ leaf_wrong ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:wrong.example
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
CNF

serial=4096
newkey() {	# newkey FILE: RSA 2048 private key, PKCS#8 PEM
	ossl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" ||
		die "key generation failed for $1"
}
mkca() {	# mkca KEY CERT CN: self-signed CA, 3 days
	newkey "$1"
	ossl req -config "$work/ossl.cnf" -new -x509 -sha256 -days 3 \
		-key "$1" -subj "/CN=$3" -extensions ca_ext \
		-set_serial "$serial" -out "$2" || die "cannot make CA $2"
	serial=$((serial + 1))
}
mkleaf() {	# mkleaf KEY CERT CN EXTSECTION CACERT CAKEY: leaf, 2 days
	newkey "$1"
	ossl req -config "$work/ossl.cnf" -new -sha256 -key "$1" \
		-subj "/CN=$3" -out "$work/leaf.csr" || die "cannot make CSR for $2"
	ossl x509 -req -in "$work/leaf.csr" -sha256 -days 2 \
		-CA "$5" -CAkey "$6" -set_serial "$serial" \
		-extfile "$work/ossl.cnf" -extensions "$4" -out "$2" ||
		die "cannot sign $2"
	serial=$((serial + 1))
}

mkca   "$dir/ca.key" "$dir/ca.pem" "outbox test CA"
mkleaf "$dir/server.key" "$dir/server.pem" localhost leaf_localhost \
	"$dir/ca.pem" "$dir/ca.key"
mkleaf "$dir/wrongname.key" "$dir/wrongname.pem" wrong.example leaf_wrong \
	"$dir/ca.pem" "$dir/ca.key"
# The second CA's key only lives in the scratch directory.
mkca   "$work/otherca.key" "$dir/otherca.pem" "outbox other CA"
mkleaf "$dir/untrusted.key" "$dir/untrusted.pem" localhost leaf_localhost \
	"$dir/otherca.pem" "$work/otherca.key"

# Self-check: the good leaves verify against ca.pem, the untrusted one does
# not, so a broken openssl setup fails here rather than in a confusing test.
for c in server wrongname; do
	ossl verify -CAfile "$dir/ca.pem" "$dir/$c.pem" ||
		die "$c.pem does not verify against ca.pem"
done
ossl verify -CAfile "$dir/otherca.pem" "$dir/untrusted.pem" ||
	die "untrusted.pem does not verify against otherca.pem"
if openssl verify -CAfile "$dir/ca.pem" "$dir/untrusted.pem" >/dev/null 2>&1; then
	die "untrusted.pem unexpectedly verifies against ca.pem"
fi

for f in ca server wrongname untrusted; do
	chmod 0600 "$dir/$f.key" || die "chmod $f.key failed"
done
for f in ca server wrongname otherca untrusted; do
	chmod 0644 "$dir/$f.pem" || die "chmod $f.pem failed"
done
exit 0
