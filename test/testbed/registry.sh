#!/usr/bin/env bash
# registry.sh runs a private registry for end-to-end tests: distribution's
# registry (or Debian's docker-registry) on 127.0.0.1 with htpasswd auth and
# TLS from a throwaway CA, so tests exercise credentials and custom CAs the
# way a real private registry demands them.
#
# Usage:
#   eval "$(test/testbed/registry.sh start DIR)"   # prints export lines
#   test/testbed/registry.sh stop DIR
#
# start is idempotent: with a registry already running from DIR it prints the
# same exports again; a restart reuses DIR's CA, certificate and password so
# clients that trusted them keep working. Exports (also in DIR/registry.env):
#   PULLGUARD_REGISTRY_HOST      127.0.0.1:PORT
#   PULLGUARD_REGISTRY_USER, PULLGUARD_REGISTRY_PASSWORD
#   PULLGUARD_REGISTRY_CA        PEM file of the CA that signed the certificate
#
# PULLGUARD_REGISTRY_PORT picks the port; otherwise a free one is chosen.
# Needs openssl, curl and htpasswd (apache2-utils, installed with apt-get when
# missing).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/layout.sh
source "$here/layout.sh"

user=pullguard

log() { echo "registry.sh: $*" >&2; }
die() {
	log "error: $*"
	exit 1
}

running() { [[ -f $dir/registry.pid ]] && kill -0 "$(cat "$dir/registry.pid")" 2>/dev/null; }

# free_port prints a port nothing listens on (racy, but only against other
# test bed users on this machine).
free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 20000))
		if [[ -z $(ss -Hltn "sport = :$p") ]]; then
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

ensure_htpasswd() {
	command -v htpasswd >/dev/null && return
	local sudo=()
	if [[ $EUID -ne 0 ]]; then sudo=(sudo); fi
	log "htpasswd missing: installing apache2-utils with apt-get"
	"${sudo[@]}" apt-get install -y --no-install-recommends apache2-utils >&2 ||
		{ "${sudo[@]}" apt-get update >&2 && "${sudo[@]}" apt-get install -y --no-install-recommends apache2-utils >&2; }
}

# certificates makes a CA and a server certificate for 127.0.0.1 and
# localhost signed by it (Go clients reject a certificate without SANs).
certificates() {
	[[ -f $dir/ca.crt && -f $dir/server.crt && -f $dir/server.key ]] && return
	local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
	openssl req -x509 "${ec[@]}" -days 30 -subj "/CN=pullguard test bed CA" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
		-keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
	openssl req "${ec[@]}" -subj "/CN=localhost" -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
	printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" >"$dir/server.ext"
	openssl x509 -req -days 30 -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
		-CAcreateserial -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
	rm -f "$dir/server.csr" "$dir/server.ext"
}

# credentials makes a random password and its bcrypt htpasswd entry, the only
# hash distribution accepts.
credentials() {
	[[ -f $dir/password && -f $dir/htpasswd ]] && return
	ensure_htpasswd
	openssl rand -hex 16 >"$dir/password"
	htpasswd -Bbn "$user" "$(cat "$dir/password")" >"$dir/htpasswd"
}

write_config() {
	cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$1
  tls:
    certificate: $dir/server.crt
    key: $dir/server.key
auth:
  htpasswd:
    realm: pullguard-testbed
    path: $dir/htpasswd
EOF
	cat >"$dir/registry.env" <<EOF
export PULLGUARD_REGISTRY_HOST=127.0.0.1:$1
export PULLGUARD_REGISTRY_USER=$user
export PULLGUARD_REGISTRY_PASSWORD=$(cat "$dir/password")
export PULLGUARD_REGISTRY_CA=$(printf '%q' "$dir/ca.crt")
EOF
}

start() {
	local bin port code
	if running; then
		log "already running (pid $(cat "$dir/registry.pid"))"
		cat "$dir/registry.env"
		return
	fi
	bin=$(registry_bin) || die "no registry binary; run test/testbed/build.sh registry"
	mkdir -p "$dir/data"
	certificates
	credentials
	port=${PULLGUARD_REGISTRY_PORT:-$(free_port)}
	write_config "$port"

	# setsid: the registry must outlive the shell that started it, and stop
	# must not signal that shell's process group.
	OTEL_TRACES_EXPORTER=none setsid "$bin" serve "$dir/config.yml" >"$dir/registry.log" 2>&1 </dev/null &
	echo $! >"$dir/registry.pid"

	# Ready when /v2/ answers 401 over TLS verified with our CA: that proves
	# the listener, the certificate and the auth configuration at once.
	for _ in $(seq 1 60); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$dir/ca.crt" "https://127.0.0.1:$port/v2/" || true)
		if [[ $code == 401 ]]; then
			log "listening on 127.0.0.1:$port (pid $(cat "$dir/registry.pid"), $("$bin" --version))"
			cat "$dir/registry.env"
			return
		fi
		if ! running; then
			tail -20 "$dir/registry.log" >&2
			die "registry exited; log in $dir/registry.log"
		fi
		sleep 0.5
	done
	stop
	die "registry did not answer on 127.0.0.1:$port within 30s; log in $dir/registry.log"
}

stop() {
	local pid
	if ! running; then
		rm -f "$dir/registry.pid"
		log "not running"
		return
	fi
	pid=$(cat "$dir/registry.pid")
	kill "$pid"
	for _ in $(seq 1 20); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.5
	done
	if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
	rm -f "$dir/registry.pid"
	log "stopped (pid $pid)"
}

if [[ $# -ne 2 ]] || [[ $1 != start && $1 != stop ]]; then
	echo "usage: registry.sh start|stop DIR" >&2
	exit 2
fi
mkdir -p "$2"
dir="$(cd "$2" && pwd)"
"$1"
