#!/usr/bin/env bash
# Writes a self-contained, throwaway Dovecot configuration (IMAP with
# STARTTLS, IMAPS, and dovecot-submissiond for SMTP AUTH with STARTTLS and
# implicit TLS) into DIR and prints DIR. It does not start Dovecot; run
#
#   dovecot -F -c DIR/dovecot.conf &      # stop: kill that PID, then wait for it to exit
#
# Used by internal/provider/imap/dovecot_test.go; adapted from the recipe in
# the shared test-peer notes. Needs root (Dovecot drops to its own users)
# and openssl.
#
# Environment:
#   IMAP_PORT (11143) IMAPS_PORT (11993) SUB_PORT (11587) SUBS_PORT (11465)
#                      loopback ports to listen on
#   RELAY_PORT (12525) submission relay; nothing needs to listen there
#                      (AUTH works without it; sending mail would not)
#   USERS              "user:password" lines for the passwd-file; default
#                      alice@example.com:alicepw
#
# Pitfalls handled here (see the notes): auth_failure_delay = 0 and anvil's
# per-IP auth penalty disabled, or every failed login costs 2 to 15 s;
# blocks written over several lines (one-line blocks are a syntax error);
# base_dir, state_dir, log and instance_name under DIR so that instances
# do not collide. Callers must wait for the "* OK" greeting before use and
# for the old master PID to exit before a restart on the same ports.
set -euo pipefail
D=${1:-$(mktemp -d)}
IMAP_PORT=${IMAP_PORT:-11143}; IMAPS_PORT=${IMAPS_PORT:-11993}
SUB_PORT=${SUB_PORT:-11587}; SUBS_PORT=${SUBS_PORT:-11465}; RELAY_PORT=${RELAY_PORT:-12525}
USERS=${USERS:-alice@example.com:alicepw}

mkdir -p "$D"/{run,state,mail}
chmod 755 "$D"
chown nobody:nogroup "$D/mail" 2>/dev/null || chown nobody "$D/mail"

# Self-signed certificate for localhost and 127.0.0.1 (clients trust cert.pem).
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$D/key.pem" -out "$D/cert.pem" 2>/dev/null

# passwd-file: user:{PLAIN}password followed by the empty optional fields.
: > "$D/users"
while IFS= read -r line; do
  [ -z "$line" ] && continue
  printf '%s:{PLAIN}%s::::::\n' "${line%%:*}" "${line#*:}" >> "$D/users"
done <<< "$USERS"
chmod 644 "$D/users"

cat > "$D/dovecot.conf" <<C
base_dir = $D/run
state_dir = $D/state
instance_name = dovecot-$(basename "$D")
log_path = $D/dovecot.log
protocols = imap submission
listen = 127.0.0.1
ssl = yes
ssl_cert = <$D/cert.pem
ssl_key = <$D/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
auth_failure_delay = 0
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $D/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$D/mail/%u
}
mail_location = maildir:~/Maildir
service imap-login {
  inet_listener imap {
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = $IMAPS_PORT
    ssl = yes
  }
}
service submission-login {
  inet_listener submission {
    port = $SUB_PORT
  }
  inet_listener submissions {
    port = $SUBS_PORT
    ssl = yes
  }
}
submission_relay_host = 127.0.0.1
submission_relay_port = $RELAY_PORT
submission_relay_trusted = yes
hostname = localhost
C
echo "$D"
