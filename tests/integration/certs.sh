#!/bin/sh
# tests/integration/certs.sh - makes a throwaway CA and two server
# certificates signed by it, for the integration tests' TLS:
#
#   DIR/ca.pem      the CA certificate (give it to upstream_ca_file)
#   DIR/ca.key      its key
#   DIR/server.pem  server certificate for DNS:localhost and IP:127.0.0.1
#   DIR/server.key  its key
#   DIR/wrong.pem   server certificate for DNS:wrong.example only (a valid
#                   chain with the wrong host name: verification must fail)
#   DIR/wrong.key   its key
#   DIR/expired.pem server certificate for DNS:localhost and IP:127.0.0.1,
#                   valid for one day in 2020 only: expired, so
#                   verification must fail
#   DIR/expired.key its key
#   DIR/client.pem  client certificate (extendedKeyUsage clientAuth), for
#                   a server that asks for one (redis --tls-auth-clients)
#   DIR/client.key  its key
#
# Usage: certs.sh DIR        (DIR is created if missing)
# Keys are P-256 (fast to make); everything expires after 2 days.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
dir=$1
mkdir -p "$dir"
log=$dir/certs.log
: >"$log"

# ssl CMD...: runs openssl quietly; on failure shows its output and stops.
ssl() {
    if ! openssl "$@" >>"$log" 2>&1; then
        echo "certs.sh: openssl $1 failed:" >&2
        cat "$log" >&2
        exit 1
    fi
}

cat >"$dir/ca.ext" <<'EXT'
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EXT

# leaf NAME CN SAN: key and CSR for NAME, signed by the CA for SAN.
leaf() {
    cat >"$dir/$1.ext" <<EXT
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = $3
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EXT
    ssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$dir/$1.key"
    ssl req -new -key "$dir/$1.key" -subj "/CN=$2" -out "$dir/$1.csr"
    ssl x509 -req -in "$dir/$1.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -CAserial "$dir/ca.srl" -days 2 -sha256 \
        -extfile "$dir/$1.ext" -out "$dir/$1.pem"
}

ssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/ca.key"
ssl req -new -key "$dir/ca.key" -subj "/CN=heavyset-proxy test CA" \
    -out "$dir/ca.csr"
ssl x509 -req -in "$dir/ca.csr" -signkey "$dir/ca.key" -days 2 -sha256 \
    -extfile "$dir/ca.ext" -out "$dir/ca.pem"

leaf server localhost "DNS:localhost, IP:127.0.0.1"
leaf wrong wrong.example "DNS:wrong.example"

# A client certificate: like a leaf, for clientAuth and no name.
cat >"$dir/client.ext" <<'EXT'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EXT
ssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$dir/client.key"
ssl req -new -key "$dir/client.key" -subj "/CN=heavyset-proxy test client" \
    -out "$dir/client.csr"
ssl x509 -req -in "$dir/client.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -CAserial "$dir/ca.srl" -days 2 -sha256 \
    -extfile "$dir/client.ext" -out "$dir/client.pem"

# An expired leaf: `openssl x509 -req` (OpenSSL 3.0) signs from now on
# only, `openssl ca` takes explicit dates.
cat >"$dir/ca.cnf" <<EOF
[ ca ]
default_ca = test_ca
[ test_ca ]
database = $dir/index.txt
new_certs_dir = $dir
serial = $dir/ca.serial
default_md = sha256
policy = any
copy_extensions = none
[ any ]
commonName = supplied
EOF
: >"$dir/index.txt"
echo 1000 >"$dir/ca.serial"
cat >"$dir/expired.ext" <<'EXT'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
EXT
ssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$dir/expired.key"
ssl req -new -key "$dir/expired.key" -subj "/CN=localhost" \
    -out "$dir/expired.csr"
ssl ca -batch -config "$dir/ca.cnf" -cert "$dir/ca.pem" \
    -keyfile "$dir/ca.key" -in "$dir/expired.csr" -out "$dir/expired.pem" \
    -startdate 20200101000000Z -enddate 20200102000000Z \
    -extfile "$dir/expired.ext" -notext

ssl verify -CAfile "$dir/ca.pem" "$dir/server.pem" "$dir/wrong.pem" \
    "$dir/client.pem"
if openssl verify -CAfile "$dir/ca.pem" "$dir/expired.pem" >>"$log" 2>&1
then
    echo "certs.sh: expired.pem verifies" >&2
    exit 1
fi
chmod 600 "$dir"/*.key
rm -f "$dir"/*.csr "$dir"/*.ext "$dir/ca.srl" "$dir/ca.cnf" \
    "$dir"/index.txt* "$dir"/ca.serial* "$dir/1000.pem" "$log"
