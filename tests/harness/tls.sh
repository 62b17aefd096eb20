#!/bin/bash
# tls.sh: TLS material for tests of the agent's mutual-TLS listener.
#
# Usage: tls.sh DIR
#
# Makes three independent certificate authorities in DIR, one per role (nng
# cannot read the peer's certificate name, so the CA a certificate chains to
# is what says who the peer is), and one leaf certificate from each:
#
#   agent-ca.crt       agent-ca.key        CA of agents
#   agent.crt          agent.key           the agent's server certificate:
#                                          CN localhost, SAN DNS:localhost and
#                                          IP:127.0.0.1, EKU serverAuth
#   controller-ca.crt  controller-ca.key   CA of controllers
#   controller.crt     controller.key      a controller's client certificate,
#                                          EKU clientAuth
#   rogue-ca.crt       rogue-ca.key        a CA nobody trusts
#   rogue.crt          rogue.key           a client certificate from it, valid
#                                          in every other respect
#
# An agent runs with --tls-cert agent.crt --tls-key agent.key
# --tls-ca controller-ca.crt; a controller with --tls-cert controller.crt
# --tls-key controller.key --tls-ca agent-ca.crt.
#
# Every key is ECDSA P-256 in unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY"),
# every certificate PEM, SHA-256 signed and valid for ten years from now: nng's
# TLS is mbedTLS 2.28, TLS 1.2 only, which reads all of that.
# Nothing outside DIR is read or written (no openssl.cnf: OPENSSL_CONF points
# at one written here), and it takes well under a second.
#
# Exit status 0 on success; otherwise a message on stderr and status 1.
# Needs bash and the openssl command (1.1.1 or 3.x); no python.
set -euo pipefail

die() {
	echo "tls.sh: $*" >&2
	exit 1
}

[ $# -eq 1 ] || die "usage: tls.sh DIR"
mkdir -p "$1" || die "cannot create $1"
DIR=$(cd "$1" && pwd)
LOG=$DIR/tls.log
: >"$LOG"

# A minimal configuration of our own, so that the system's openssl.cnf (and
# whatever it includes) plays no part, and the extensions of each kind of
# certificate are spelt out in one place.
export OPENSSL_CONF=$DIR/openssl.cnf
cat >"$OPENSSL_CONF" <<'EOF'
[req]
distinguished_name = req_dn
prompt = no
[req_dn]
[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

# ossl ARGS...: runs openssl, keeping its chatter in the log.
ossl() {
	openssl "$@" >>"$LOG" 2>&1 || die "openssl $1 failed, see $LOG"
}

# serial: a random positive 63-bit serial number in hex.
serial() {
	printf '%04x%04x%04x%04x' $((RANDOM & 0x7fff)) $RANDOM $RANDOM $RANDOM
}

newkey() {
	ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-pkeyopt ec_param_enc:named_curve -out "$DIR/$1.key"
	chmod 600 "$DIR/$1.key"
}

# sign NAME SIGNER_CA EXT_SECTION: signs NAME.csr with SIGNER_CA, valid from now.
sign() {
	local name=$1 ca=$2 ext=$3
	ossl x509 -req -in "$DIR/$name.csr" -CA "$DIR/$ca.crt" -CAkey "$DIR/$ca.key" \
		-set_serial "0x$(serial)" -days 3650 -sha256 \
		-extfile "$OPENSSL_CONF" -extensions "$ext" -out "$DIR/$name.crt"
	rm -f "$DIR/$name.csr"
}

# ca NAME CN: a self-signed CA.
ca() {
	newkey "$1"
	ossl req -new -x509 -key "$DIR/$1.key" -subj "/O=aicert tests/CN=$2" \
		-set_serial "0x$(serial)" -days 3650 -sha256 -extensions ca -out "$DIR/$1.crt"
}

# leaf NAME CN CA EXT_SECTION
leaf() {
	newkey "$1"
	ossl req -new -key "$DIR/$1.key" -subj "/O=aicert tests/CN=$2" -out "$DIR/$1.csr"
	sign "$1" "$3" "$4"
}

ca agent-ca "aicert test agent CA"
ca controller-ca "aicert test controller CA"
ca rogue-ca "aicert test rogue CA"
leaf agent localhost agent-ca server
leaf controller "aicert test controller" controller-ca client
leaf rogue "aicert test controller" rogue-ca client

# Check what was made: each leaf chains to its own CA and to no other.
for pair in agent:agent-ca controller:controller-ca rogue:rogue-ca; do
	ossl verify -x509_strict -CAfile "$DIR/${pair#*:}.crt" "$DIR/${pair%%:*}.crt"
done
if openssl verify -CAfile "$DIR/controller-ca.crt" "$DIR/rogue.crt" >>"$LOG" 2>&1; then
	die "rogue.crt verifies against controller-ca.crt"
fi
rm -f "$DIR"/*.srl
