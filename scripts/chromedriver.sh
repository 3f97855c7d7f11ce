# Sourced by the browser scripts: Debian's Chromium and its WebDriver, installed when
# missing, and a chromedriver on a free local port for the life of the calling script.

# Installs chromium and chromium-driver with apt-get unless both are there.
chromium_require() {
    if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
        return
    fi
    echo "installing Debian's chromium and chromium-driver" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
}

# Starts chromedriver on a free port, waits until it answers /status, exports
# WEBDRIVER_URL and stops it when the script exits.
chromedriver_start() {
    local port log
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    log=$(mktemp)
    chromedriver --port="$port" --allowed-ips=127.0.0.1 >"$log" 2>&1 &
    CHROMEDRIVER_PID=$!
    trap 'kill "$CHROMEDRIVER_PID" 2>/dev/null || true; wait "$CHROMEDRIVER_PID" 2>/dev/null || true' EXIT
    for _ in $(seq 1 200); do
        if curl -fsS "http://127.0.0.1:$port/status" 2>/dev/null | grep -q '"ready": *true'; then
            export WEBDRIVER_URL="http://127.0.0.1:$port"
            echo "chromedriver $(chromedriver --version | cut -d' ' -f2) at $WEBDRIVER_URL" >&2
            rm -f "$log"
            return
        fi
        kill -0 "$CHROMEDRIVER_PID" 2>/dev/null || { cat "$log" >&2; return 1; }
        sleep 0.05
    done
    echo "chromedriver did not become ready" >&2
    cat "$log" >&2
    return 1
}
