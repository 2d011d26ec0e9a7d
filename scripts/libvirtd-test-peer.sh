#!/usr/bin/env bash
# A real libvirt daemon for braid's interop test (testsuite LibvirtInteropTest): libvirtd with only its
# built-in test driver (test:///default), listening on TCP 127.0.0.1 without authentication, on TLS
# (the next free port, client certificates required, a throwaway CA made here with openssl in libvirt's own
# file layout) and on its Unix socket, with its configuration, certificates, sockets, pid file and log in a
# private directory (no systemd, no /etc/libvirt or /etc/pki changes).
#
# Files the interop test reads from the state directory:
#   tls-port                        the TLS port
#   run/libvirt-sock                the read-write Unix socket
#   pki/cacert.pem                  the CA libvirtd and braid trust (libvirt: /etc/pki/CA/cacert.pem)
#   pki/servercert.pem, pki/private/serverkey.pem   libvirtd's (/etc/pki/libvirt/...)
#   pki/clientcert.pem, pki/private/clientkey.pem   the client's (/etc/pki/libvirt/...)
#   pki/other-cacert.pem            a CA that signed nothing here (a client trusting only it must refuse libvirtd)
#
#   scripts/libvirtd-test-peer.sh [start]   install libvirtd if missing, start it (if not already running)
#                                           and print its TCP port alone on stdout
#   scripts/libvirtd-test-peer.sh stop      stop the daemon this script started
#   scripts/libvirtd-test-peer.sh status    print the port if running, exit 1 otherwise
#   scripts/libvirtd-test-peer.sh tools     also install tshark and libvirt's wireshark dissector
#
# Then:  BRAID_LIBVIRTD=127.0.0.1:$(scripts/libvirtd-test-peer.sh) ./mvnw -B test -pl testsuite -am \
#            -Dtest=LibvirtInteropTest -Dsurefire.failIfNoSpecifiedTests=false
#
# Environment: BRAID_LIBVIRTD_DIR (state directory, default /tmp/braid-libvirtd),
#              BRAID_LIBVIRTD_PORT (first port to try, default 16519; the next free one is used if taken).
# Idempotent: 'start' on a running daemon only prints its port; 'stop' on a stopped one does nothing.
#
# Why an empty driver directory: Debian's libvirtd as root loads the QEMU, network, storage... driver
# modules, and the QEMU one refuses to start without the 'libvirt-qemu' user that libvirt-daemon-system
# creates. LIBVIRT_DRIVER_DIR pointing at an empty directory leaves only the drivers built into
# libvirt.so, among them the test driver, which is all the interop test needs.
set -euo pipefail

DIR=${BRAID_LIBVIRTD_DIR:-/tmp/braid-libvirtd}
FIRST_PORT=${BRAID_LIBVIRTD_PORT:-16519}
PIDFILE=$DIR/libvirtd.pid
PORTFILE=$DIR/port
TLSPORTFILE=$DIR/tls-port
PKI=$DIR/pki
LOG=$DIR/libvirtd.log

say() { echo "libvirtd-test-peer: $*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        say "need root (or sudo) to run: $*"
        exit 1
    fi
}

apt_install() { # installs Debian packages, running 'apt-get update' first only if the install fails
    say "installing $*"
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2; then
        as_root apt-get update >&2
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2
    fi
}

port_open() { # true if something accepts TCP connections on 127.0.0.1:$1
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

running_pid() { # prints the daemon's pid if this script's daemon is alive
    local pid
    [ -s "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    [ "$(readlink -f "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$(command -v libvirtd)")" ] || return 1
    echo "$pid"
}

find_libvirtd() {
    command -v libvirtd >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
    command -v libvirtd >/dev/null 2>&1
}

install_daemon() {
    find_libvirtd && command -v virsh >/dev/null 2>&1 && return 0
    apt_install libvirt-daemon libvirt-clients
    find_libvirtd || { say "libvirtd still not found after installing libvirt-daemon"; exit 1; }
}

status() {
    find_libvirtd || return 1
    running_pid >/dev/null && [ -s "$PORTFILE" ] && port_open "$(cat "$PORTFILE")" || return 1
    [ -s "$TLSPORTFILE" ] && port_open "$(cat "$TLSPORTFILE")" || return 1 # a daemon from before TLS: restart it
    cat "$PORTFILE"
}

make_pki() { # a throwaway CA and libvirt's certificate layout, EC P-256, valid two days
    command -v openssl >/dev/null 2>&1 || apt_install openssl
    rm -rf "$PKI"
    mkdir -p "$PKI/private"
    chmod 700 "$PKI/private"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/O=braid/CN=libvirtd test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$PKI/private/cakey.pem" -out "$PKI/cacert.pem" 2>/dev/null
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/O=braid/CN=another CA" \
        -addext "basicConstraints=critical,CA:TRUE" -keyout "$PKI/private/other-cakey.pem" -out "$PKI/other-cacert.pem" 2>/dev/null
    local who cn ext
    for who in server client; do
        if [ $who = server ]; then
            cn=localhost
            ext="subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature,keyEncipherment,keyAgreement"
        else
            cn=braid-interop-client
            ext="extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature,keyEncipherment,keyAgreement"
        fi
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=braid/CN=$cn" \
            -keyout "$PKI/private/${who}key.pem" -out "$PKI/$who.csr" 2>/dev/null
        printf '%s\n' "$ext" > "$PKI/$who.ext"
        openssl x509 -req -in "$PKI/$who.csr" -CA "$PKI/cacert.pem" -CAkey "$PKI/private/cakey.pem" \
            -CAcreateserial -days 2 -extfile "$PKI/$who.ext" -out "$PKI/${who}cert.pem" 2>/dev/null
        rm -f "$PKI/$who.csr" "$PKI/$who.ext"
    done
}

start() {
    install_daemon
    if status 2>/dev/null; then
        return 0
    fi
    if pid=$(running_pid); then # alive but not answering: start over
        kill "$pid" 2>/dev/null || true
    fi
    mkdir -p "$DIR/run" "$DIR/drivers" "$DIR/xdg/config" "$DIR/xdg/cache" "$DIR/xdg/runtime"
    chmod 700 "$DIR/xdg/runtime"
    rm -f "$PIDFILE" "$PORTFILE" "$TLSPORTFILE" "$DIR"/run/*
    make_pki
    local port=$FIRST_PORT
    while port_open "$port"; do
        port=$((port + 1))
    done
    local tls_port=$((port + 1))
    while port_open "$tls_port"; do
        tls_port=$((tls_port + 1))
    done
    cat > "$DIR/libvirtd.conf" <<EOF
# written by scripts/libvirtd-test-peer.sh
listen_tls = 1
tls_port = "$tls_port"
key_file = "$PKI/private/serverkey.pem"
cert_file = "$PKI/servercert.pem"
ca_file = "$PKI/cacert.pem"
# client certificates required and checked against the CA (libvirt's default, said out loud)
tls_no_verify_certificate = 0
auth_tls = "none"
listen_tcp = 1
listen_addr = "127.0.0.1"
tcp_port = "$port"
auth_tcp = "none"
auth_unix_rw = "none"
auth_unix_ro = "none"
unix_sock_dir = "$DIR/run"
# PING an idle client that advertised keepalive every second; drop it after 3 unanswered PINGs.
keepalive_interval = 1
keepalive_count = 3
log_outputs = "3:file:$LOG"
EOF
    : > "$LOG"
    env LIBVIRT_DRIVER_DIR="$DIR/drivers" XDG_CONFIG_HOME="$DIR/xdg/config" XDG_CACHE_HOME="$DIR/xdg/cache" \
        XDG_RUNTIME_DIR="$DIR/xdg/runtime" \
        libvirtd --listen --daemon --config "$DIR/libvirtd.conf" --pid-file "$PIDFILE" >>"$LOG" 2>&1 || {
        say "libvirtd failed to start; its log ($LOG):"
        tail -n 20 "$LOG" >&2
        exit 1
    }
    local i
    for i in $(seq 1 100); do
        if [ -s "$PIDFILE" ] && port_open "$port" && port_open "$tls_port"; then
            echo "$port" > "$PORTFILE"
            echo "$tls_port" > "$TLSPORTFILE"
            if command -v virsh >/dev/null 2>&1 \
                    && ! virsh -q -c "test+tcp://127.0.0.1:$port/default" list --all >&2; then
                say "libvirtd listens on $port but virsh cannot use its test driver; log ($LOG):"
                tail -n 20 "$LOG" >&2
                exit 1
            fi
            say "libvirtd $(libvirtd --version | awk '{print $NF}') (pid $(cat "$PIDFILE")) listens on" \
                "127.0.0.1:$port, test driver at test+tcp://127.0.0.1:$port/default; TLS on 127.0.0.1:$tls_port" \
                "(client certificates from $PKI/cacert.pem); Unix socket $DIR/run/libvirt-sock"
            echo "$port"
            return 0
        fi
        sleep 0.1
    done
    say "libvirtd did not listen on 127.0.0.1:$port within 10 s; its log ($LOG):"
    tail -n 20 "$LOG" >&2
    exit 1
}

stop() {
    local pid i
    find_libvirtd || return 0
    if pid=$(running_pid); then
        kill "$pid"
        for i in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "libvirtd (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
            kill -9 "$pid" 2>/dev/null || true
        fi
        say "stopped libvirtd (pid $pid)"
    fi
    rm -f "$PIDFILE" "$PORTFILE" "$TLSPORTFILE"
    [ -d "$DIR/run" ] && rm -f "$DIR"/run/*
    return 0
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    tools)
        command -v tshark >/dev/null 2>&1 || apt_install tshark
        ls /usr/lib/*/wireshark/plugins/*/epan/libvirt.so >/dev/null 2>&1 || apt_install libvirt-wireshark
        ;;
    *)
        echo "usage: $0 [start|stop|status|tools]" >&2
        exit 2
        ;;
esac
