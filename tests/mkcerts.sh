#!/bin/sh
# mkcerts.sh DIR -- make a throw-away PKI for the outbox TLS tests.
#
# Creates in DIR:
#   ca.pem ca.key                 test CA (CN=outbox test CA), 3 days
#   server.pem server.key         leaf for localhost, signed by ca.pem, 2 days
#   wrongname.pem wrongname.key   leaf for wrong.example, signed by ca.pem
#   otherca.pem                   an unrelated second CA (its key is thrown away)
#   untrusted.pem untrusted.key   leaf for localhost, signed by otherca.pem
#   expired.pem expired.key       leaf for localhost, signed by ca.pem, valid
#                                 2021-01-01 to 2021-01-02 only
#   future.pem future.key         leaf for localhost, signed by ca.pem, valid
#                                 from 30 days from now, for 30 days
#   selfsigned.pem .key           self-signed leaf for localhost (no CA)
#   inter.pem                     intermediate CA signed by ca.pem (its key is
#                                 thrown away)
#   chain.pem chain.key           leaf for localhost signed by inter.pem,
#                                 followed by inter.pem: what a server sends
#   chainleaf.pem                 that leaf alone (key: chain.key)
#   ip.pem ip.key                 leaf signed by ca.pem for IP 127.0.0.1 and
#                                 ::1, with no DNS name at all
#   ec.pem ec.key                 ECDSA P-256 leaf for localhost, signed by
#                                 ca.pem (an RSA CA)
#   clientca.pem clientca.key     CA for client certificates
#   client.pem client.key         RSA client certificate, CN=outbox client,
#                                 EKU clientAuth, signed by clientca.pem
#   clientec.pem clientec.key     the same with an EC P-256 key (SEC1 "EC
#                                 PRIVATE KEY" form; the others are PKCS#8)
#   clientbad.pem clientbad.key   client certificate signed by otherca.pem
#   X.pin                         for each server leaf X (server, wrongname,
#                                 untrusted, expired, future, selfsigned,
#                                 chain, ip, ec): "sha256//" and the base64
#                                 SHA-256 of its SubjectPublicKeyInfo, made
#                                 as outbox.conf(5) tells users to
#
# All certificates are X.509 v3, sha256WithRSAEncryption (every issuer is
# RSA 2048), with the extensions BearSSL's minimal X.509 engine expects (it
# refuses unknown critical extensions and wants keyUsage/EKU consistent
# with TLS use).  Leaf .pem files hold the leaf alone (except chain.pem):
# tests trust the CA directly.  Keys are mode 0600, certificates 0644.
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
# taken from -subj), an [ca] section for the two certificates whose dates
# "openssl x509 -req" (OpenSSL 3.0) cannot set, and one extension section
# per certificate kind.
cat >"$work/ossl.cnf" <<CNF || die "cannot write config"
[ req ]
distinguished_name = req_dn
prompt             = no
[ req_dn ]
CN = unused
[ ca ]
default_ca         = dated
[ dated ]
database           = $work/index.txt
new_certs_dir      = $work
serial             = $work/serial
default_md         = sha256
policy             = any_name
unique_subject     = no
email_in_dn        = no
copy_extensions    = none
[ any_name ]
commonName         = supplied
[ ca_ext ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
[ inter_ext ]
basicConstraints       = critical, CA:TRUE, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
CNF
# One section per end-entity kind: leaf NAME USAGE EKU [SAN] [self].
leaf() {
	printf '[ %s ]\n' "$1"
	printf 'basicConstraints       = critical, CA:FALSE\n'
	printf 'keyUsage               = critical, %s\n' "$2"
	printf 'extendedKeyUsage       = %s\n' "$3"
	[ -z "$4" ] || printf 'subjectAltName         = %s\n' "$4"
	printf 'subjectKeyIdentifier   = hash\n'
	[ "$5" = self ] || printf 'authorityKeyIdentifier = keyid\n'
}
rsa='digitalSignature, keyEncipherment'
{
	leaf leaf_localhost "$rsa" serverAuth DNS:localhost
	leaf leaf_selfsigned "$rsa" serverAuth DNS:localhost self
	leaf leaf_wrong "$rsa" serverAuth DNS:wrong.example
	leaf leaf_domain "$rsa" serverAuth DNS:outbox.test
	leaf leaf_target "$rsa" serverAuth DNS:mail.outbox.test
	leaf leaf_ip "$rsa" serverAuth 'IP:127.0.0.1, IP:::1'
	leaf leaf_ec digitalSignature serverAuth DNS:localhost
	leaf client_rsa "$rsa" clientAuth
	leaf client_ec digitalSignature clientAuth
} >>"$work/ossl.cnf" || die "cannot write config"
: >"$work/index.txt"
echo 1000 >"$work/serial"

serial=4096
newkey() {	# newkey FILE: RSA 2048 private key, PKCS#8 PEM (unless made already)
	[ -s "$1" ] && return 0
	ossl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" ||
		die "key generation failed for $1"
}
# prekeys FILE...: the RSA keys, made in parallel (most of the time this
# script takes is RSA key generation); newkey then finds them made.
prekeys() {
	for k in "$@"; do
		openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
		    -out "$k" >/dev/null 2>&1 &
	done
	wait
	for k in "$@"; do
		openssl pkey -in "$k" -noout >/dev/null 2>&1 || rm -f "$k"
	done
}
neweckey() {	# neweckey FILE [sec1]: ECDSA P-256 key, PKCS#8 or SEC1 PEM
	ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-pkeyopt ec_param_enc:named_curve -out "$1" ||
		die "key generation failed for $1"
	if [ "$2" = sec1 ]; then
		ossl ec -in "$1" -out "$1.sec1" && mv "$1.sec1" "$1" ||
			die "cannot convert $1 to SEC1"
	fi
}
mkca() {	# mkca KEY CERT CN: self-signed CA, 3 days
	newkey "$1"
	ossl req -config "$work/ossl.cnf" -new -x509 -sha256 -days 3 \
		-key "$1" -subj "/CN=$3" -extensions ca_ext \
		-set_serial "$serial" -out "$2" || die "cannot make CA $2"
	serial=$((serial + 1))
}
csr() {		# csr KEY CN: a request in $work/leaf.csr (the key exists)
	ossl req -config "$work/ossl.cnf" -new -sha256 -key "$1" \
		-subj "/CN=$2" -out "$work/leaf.csr" || die "cannot make CSR for $1"
}
sign() {	# sign CERT EXTSECTION CACERT CAKEY: sign $work/leaf.csr, 2 days
	ossl x509 -req -in "$work/leaf.csr" -sha256 -days 2 \
		-CA "$3" -CAkey "$4" -set_serial "$serial" \
		-extfile "$work/ossl.cnf" -extensions "$2" -out "$1" ||
		die "cannot sign $1"
	serial=$((serial + 1))
}
mkleaf() {	# mkleaf KEY CERT CN EXTSECTION CACERT CAKEY: RSA leaf, 2 days
	newkey "$1"
	csr "$1" "$3"
	sign "$2" "$4" "$5" "$6"
}
# mkdated KEY CERT START END: RSA leaf for localhost signed by ca.pem with
# the given validity (YYMMDDHHMMSSZ, UTCTime as RFC 5280 wants before 2050).
mkdated() {
	newkey "$1"
	csr "$1" localhost
	ossl ca -config "$work/ossl.cnf" -batch -notext -in "$work/leaf.csr" \
		-cert "$dir/ca.pem" -keyfile "$dir/ca.key" \
		-startdate "$3" -enddate "$4" -extfile "$work/ossl.cnf" \
		-extensions leaf_localhost -out "$2" || die "cannot sign $2"
}
# pin CERT PINFILE: the pin, by the very pipeline outbox.conf(5) gives.
pin() {
	p=$(openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der |
	    openssl dgst -sha256 -binary | base64) || die "cannot compute the pin of $1"
	# 32 bytes are 44 base64 characters, the last one "=".
	[ ${#p} = 44 ] && [ "${p%=}" != "$p" ] || die "odd pin for $1: $p"
	echo "sha256//$p" >"$2" || die "cannot write $2"
}

prekeys "$dir/ca.key" "$dir/server.key" "$dir/wrongname.key" \
	"$work/otherca.key" "$dir/untrusted.key" "$dir/expired.key" \
	"$dir/future.key" "$dir/selfsigned.key" "$work/inter.key" \
	"$dir/chain.key" "$dir/ip.key" "$dir/clientca.key" "$dir/client.key" \
	"$dir/clientbad.key" "$dir/domain.key" "$dir/target.key"
mkca   "$dir/ca.key" "$dir/ca.pem" "outbox test CA"
mkleaf "$dir/server.key" "$dir/server.pem" localhost leaf_localhost \
	"$dir/ca.pem" "$dir/ca.key"
mkleaf "$dir/wrongname.key" "$dir/wrongname.pem" wrong.example leaf_wrong \
	"$dir/ca.pem" "$dir/ca.key"
# For SRV discovery (t_dns.sh): the mail domain, and the host its SRV
# records name.
mkleaf "$dir/domain.key" "$dir/domain.pem" outbox.test leaf_domain \
	"$dir/ca.pem" "$dir/ca.key"
mkleaf "$dir/target.key" "$dir/target.pem" mail.outbox.test leaf_target \
	"$dir/ca.pem" "$dir/ca.key"
# The second CA's key only lives in the scratch directory.
mkca   "$work/otherca.key" "$dir/otherca.pem" "outbox other CA"
mkleaf "$dir/untrusted.key" "$dir/untrusted.pem" localhost leaf_localhost \
	"$dir/otherca.pem" "$work/otherca.key"

# Outside their validity: entirely in the past, and not yet begun.
mkdated "$dir/expired.key" "$dir/expired.pem" 210101000000Z 210102000000Z
mkdated "$dir/future.key" "$dir/future.pem" \
	"$(date -u -d '+30 days' +%y%m%d%H%M%SZ)" \
	"$(date -u -d '+60 days' +%y%m%d%H%M%SZ)"

# Self-signed: its own issuer, no CA involved.
newkey "$dir/selfsigned.key"
ossl req -config "$work/ossl.cnf" -new -x509 -sha256 -days 2 \
	-key "$dir/selfsigned.key" -subj "/CN=localhost" \
	-extensions leaf_selfsigned -set_serial "$serial" \
	-out "$dir/selfsigned.pem" || die "cannot make selfsigned.pem"
serial=$((serial + 1))

# An intermediate CA (key in the scratch directory) and a leaf under it.
newkey "$work/inter.key"
csr "$work/inter.key" "outbox test intermediate CA"
sign "$dir/inter.pem" inter_ext "$dir/ca.pem" "$dir/ca.key"
mkleaf "$dir/chain.key" "$dir/chainleaf.pem" localhost leaf_localhost \
	"$dir/inter.pem" "$work/inter.key"
cat "$dir/chainleaf.pem" "$dir/inter.pem" >"$dir/chain.pem" ||
	die "cannot write chain.pem"

# Addresses only: the CN names no host either.
mkleaf "$dir/ip.key" "$dir/ip.pem" "outbox IP test" leaf_ip \
	"$dir/ca.pem" "$dir/ca.key"

# ECDSA leaf under the RSA CA.
neweckey "$dir/ec.key"
csr "$dir/ec.key" localhost
sign "$dir/ec.pem" leaf_ec "$dir/ca.pem" "$dir/ca.key"

# Client certificates: their own CA, an RSA and an EC one, and one from
# the other CA that a server trusting clientca.pem must refuse.
mkca   "$dir/clientca.key" "$dir/clientca.pem" "outbox client CA"
mkleaf "$dir/client.key" "$dir/client.pem" "outbox client" client_rsa \
	"$dir/clientca.pem" "$dir/clientca.key"
neweckey "$dir/clientec.key" sec1
csr "$dir/clientec.key" "outbox client"
sign "$dir/clientec.pem" client_ec "$dir/clientca.pem" "$dir/clientca.key"
mkleaf "$dir/clientbad.key" "$dir/clientbad.pem" "outbox client" client_rsa \
	"$dir/otherca.pem" "$work/otherca.key"

leaves="server wrongname untrusted expired future selfsigned chain ip ec \
    domain target"
for c in $leaves; do
	pin "$dir/$c.pem" "$dir/$c.pin"
done

# Self-check: what should verify does, what should not does not, so a
# broken openssl setup fails here rather than in a confusing test.
for c in server wrongname ip ec domain target; do
	ossl verify -CAfile "$dir/ca.pem" "$dir/$c.pem" ||
		die "$c.pem does not verify against ca.pem"
done
for c in client clientec; do
	ossl verify -CAfile "$dir/clientca.pem" -purpose sslclient "$dir/$c.pem" ||
		die "$c.pem does not verify against clientca.pem"
done
ossl verify -CAfile "$dir/otherca.pem" "$dir/untrusted.pem" ||
	die "untrusted.pem does not verify against otherca.pem"
ossl verify -CAfile "$dir/ca.pem" -untrusted "$dir/inter.pem" "$dir/chainleaf.pem" ||
	die "chainleaf.pem does not verify through inter.pem"
for c in untrusted chainleaf selfsigned; do
	if openssl verify -CAfile "$dir/ca.pem" "$dir/$c.pem" >/dev/null 2>&1; then
		die "$c.pem unexpectedly verifies against ca.pem"
	fi
done
if openssl verify -CAfile "$dir/clientca.pem" "$dir/clientbad.pem" >/dev/null 2>&1; then
	die "clientbad.pem unexpectedly verifies against clientca.pem"
fi
# The dated ones verify at a time inside their validity, not now.
ossl verify -CAfile "$dir/ca.pem" -no_check_time "$dir/expired.pem" ||
	die "expired.pem does not verify against ca.pem"
openssl verify -CAfile "$dir/ca.pem" "$dir/expired.pem" 2>&1 |
	grep -q 'certificate has expired' || die "expired.pem is not expired"
openssl verify -CAfile "$dir/ca.pem" "$dir/future.pem" 2>&1 |
	grep -q 'certificate is not yet valid' || die "future.pem is already valid"
openssl x509 -in "$dir/ip.pem" -noout -ext subjectAltName 2>/dev/null |
	grep -q 'DNS:' && die "ip.pem has a DNS name"
openssl x509 -in "$dir/ec.pem" -noout -text 2>/dev/null |
	grep -q 'id-ecPublicKey' || die "ec.pem has no EC key"
[ "$(grep -c 'BEGIN CERTIFICATE' "$dir/chain.pem")" = 2 ] ||
	die "chain.pem does not hold two certificates"
# Every pin differs: one key per leaf (chain's is chainleaf's).
[ "$(cat "$dir"/*.pin | sort -u | wc -l)" = "$(echo $leaves | wc -w)" ] ||
	die "two leaves share a key"

for f in ca server wrongname untrusted expired future selfsigned chain ip ec \
    clientca client clientec clientbad domain target; do
	chmod 0600 "$dir/$f.key" || die "chmod $f.key failed"
done
for f in ca server wrongname otherca untrusted expired future selfsigned \
    inter chain chainleaf ip ec clientca client clientec clientbad domain \
    target; do
	chmod 0644 "$dir/$f.pem" || die "chmod $f.pem failed"
done
for f in $leaves; do
	chmod 0644 "$dir/$f.pin" || die "chmod $f.pin failed"
done
exit 0
