#!/usr/bin/env sh
# Creates a self-signed TLS certificate for nginx in deploy/nginx/certs/ (tls.crt + tls.key),
# the paths docker-compose.yml mounts at /etc/nginx/certs/. For local use and first starts only:
# browsers and Meta's webhook delivery do not trust it.
#
#   ./deploy/nginx/gen-self-signed.sh                       # CN=localhost
#   ./deploy/nginx/gen-self-signed.sh router.example.org    # another host name
#   FORCE=1 ./deploy/nginx/gen-self-signed.sh               # replace an existing pair
#
# Real certificates: put the full chain at deploy/nginx/certs/tls.crt and the private key at
# deploy/nginx/certs/tls.key (or mount them there), then `docker compose restart nginx`.
# With Let's Encrypt (certbot), either copy
#   /etc/letsencrypt/live/<domain>/fullchain.pem -> deploy/nginx/certs/tls.crt
#   /etc/letsencrypt/live/<domain>/privkey.pem   -> deploy/nginx/certs/tls.key
# from a renewal deploy hook, or replace the nginx certs volume in a docker-compose.override.yml:
#   services:
#     nginx:
#       volumes:
#         - /etc/letsencrypt/live/<domain>/fullchain.pem:/etc/nginx/certs/tls.crt:ro
#         - /etc/letsencrypt/live/<domain>/privkey.pem:/etc/nginx/certs/tls.key:ro
#         - /etc/letsencrypt/archive/<domain>:/etc/letsencrypt/archive/<domain>:ro
# (the live/ files are symlinks into archive/, hence the third mount). docs/DEPLOYMENT.md has more.
# Never commit the generated key.
set -eu

host="${1:-localhost}"
dir="$(cd "$(dirname "$0")" && pwd)/certs"
crt="$dir/tls.crt"
key="$dir/tls.key"

if ! command -v openssl >/dev/null 2>&1; then
    echo "gen-self-signed.sh: openssl is not installed; install it (e.g. apt-get install openssl)" >&2
    echo "or put a certificate at $crt and its key at $key yourself." >&2
    exit 1
fi

if [ -f "$crt" ] && [ -f "$key" ] && [ "${FORCE:-0}" != "1" ]; then
    echo "gen-self-signed.sh: $crt and $key exist; set FORCE=1 to replace them."
    exit 0
fi

mkdir -p "$dir"
umask 077
openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 365 \
    -subj "/CN=$host" \
    -addext "subjectAltName=DNS:$host,DNS:localhost,IP:127.0.0.1" \
    -addext "keyUsage=digitalSignature,keyEncipherment" \
    -addext "extendedKeyUsage=serverAuth" \
    -keyout "$key" -out "$crt" 2>/dev/null
# nginx's master process reads the key as root; the certificate may be world-readable.
chmod 600 "$key"
chmod 644 "$crt"
echo "gen-self-signed.sh: wrote $crt and $key (CN=$host, valid 365 days)."
