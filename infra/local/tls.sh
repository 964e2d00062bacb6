# shellcheck shell=bash
#
# A throwaway certificate authority and one server certificate (for 127.0.0.1
# and localhost) for the secured local listeners: Kafka's SASL_SSL listener and
# the TLS Redis. Made with openssl under <state>/tls on first use, never
# committed; the tests trust <state>/tls/ca.pem. Sourced by services.sh after
# lib.sh; defines tls_ensure.

TLS_DIR=$STATE_DIR/tls
TLS_CA=$TLS_DIR/ca.pem                     # what clients trust
TLS_CERT=$TLS_DIR/server.pem               # server certificate, signed by the CA
TLS_KEY=$TLS_DIR/server.key                # its key, PKCS#8, unencrypted (0600)
TLS_KEYSTORE_PEM=$TLS_DIR/kafka-keystore.pem # key + certificate: Kafka's PEM keystore
TLS_DAYS=${TLS_DAYS:-365}

# Make the CA and the server certificate unless they exist and stay valid for
# another day. Both are made again together, so the pair always matches.
tls_ensure() {
  if [[ -s $TLS_CA && -s $TLS_KEYSTORE_PEM && -s $TLS_KEY ]] &&
    openssl x509 -checkend 86400 -noout -in "$TLS_CERT" >/dev/null 2>&1; then
    return 0
  fi
  ensure_command openssl openssl
  log "tls: making a local CA and a server certificate in $TLS_DIR"
  mkdir -p "$TLS_DIR"
  chmod 700 "$TLS_DIR"
  local work
  work=$(mktemp -d "$TLS_DIR/new.XXXXXX")
  if ! (
    set -e
    cd "$work"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$TLS_DAYS" \
      -keyout ca.key -out ca.pem -subj "/CN=fraudstream local CA" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    openssl req -newkey rsa:2048 -nodes -sha256 -keyout server.key -out server.csr \
      -subj "/CN=localhost"
    printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' 'basicConstraints=CA:FALSE' \
      'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' \
      'subjectKeyIdentifier=hash' 'authorityKeyIdentifier=keyid' >server.ext
    openssl x509 -req -sha256 -days "$TLS_DAYS" -in server.csr -CA ca.pem -CAkey ca.key \
      -CAcreateserial -extfile server.ext -out server.pem
    cat server.key server.pem >kafka-keystore.pem
    chmod 644 ca.pem server.pem
  ) >"$LOG_DIR/tls.log" 2>&1; then
    show_log_tail "$LOG_DIR/tls.log" 30
    rm -rf "$work"
    die "tls: openssl could not make the certificates (log: $LOG_DIR/tls.log)"
  fi
  local name
  for name in ca.key ca.pem server.key server.pem kafka-keystore.pem; do
    mv -f "$work/$name" "$TLS_DIR/$name"
  done
  rm -rf "$work"
}
