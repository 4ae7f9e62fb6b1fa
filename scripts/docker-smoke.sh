#!/usr/bin/env bash
# Prove that `docker run` reproduces the leaderboard, offline, on this machine.
#
# 1. Finds a Docker engine; if none runs, installs Debian's docker.io (when missing) and
#    starts dockerd in the background (log in $SMOKE_WORK/dockerd.log).
# 2. Makes sure the Dockerfile's base image exists: pulls it, or, when no registry is
#    reachable, builds a stand-in from Debian bookworm (docker/build-base.sh).
# 3. Builds the image from a staged copy of this checkout (tracked and untracked,
#    not-ignored files), with the machine's CA bundle as the BuildKit secret `pip_ca`
#    (TLS-intercepting proxies) and a local torch wheel in docker/wheels/ when the
#    machine has one (pip find-links). The checkout itself is never modified.
# 4. Rebuilds after a code-only change (a comment appended to the staged package) and
#    checks that the dependency layers, torch included, came from the cache.
# 5. Runs the image with `--network none` on the tiny preset, as its non-root user.
# 6. Runs the same command outside the container (a venv from the same lock file) and
#    compares: the simulated dataset (sha256 of every file), results.csv (every column but
#    timings and code version, numbers exactly), the leaderboard files and the
#    reconstruction PNGs (byte for byte; scripts/compare_runs.py).
# 7. Stops the engine if this script started it (images stay in /var/lib/docker).
#
# Usage: scripts/docker-smoke.sh [--keep-engine] [--skip-rebuild] [--no-cache]
# Environment:
#   SMOKE_WORK             work folder (default /var/tmp/reconbench-smoke); emptied per run
#                          except the host venv and host weights, which are reused
#   SMOKE_TAG              image tag (default reconbench:smoke)
#   SMOKE_PRESET           preset to run (default tiny)
#   RECONBENCH_HOST_PYTHON python with reconbench installed, for the run outside the
#                          container (default: a venv built from this checkout)
#   PIP_CA_BUNDLE          CA bundle given to pip at build time (default: pip's `cert`,
#                          $PIP_CERT, $SSL_CERT_FILE or the system bundle)
#   TORCH_WHEEL_DIR        folder holding a torch wheel (default: pip's find-links)
#   TORCH_INDEX_URL        passed to the build when no local wheel is found
#   SMOKE_COMPARE_IGNORE   results.csv columns the comparison also ignores (space-separated);
#                          for the CUDA variant run on a CPU against a CPU torch outside:
#                          "torch_version package_versions config_hash" (the torch build recorded)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${SMOKE_WORK:-/var/tmp/reconbench-smoke}
tag=${SMOKE_TAG:-reconbench:smoke}
preset=${SMOKE_PRESET:-tiny}
keep_engine=0
skip_rebuild=0
no_cache=()
for arg in "$@"; do
    case "$arg" in
        --keep-engine) keep_engine=1 ;;
        --skip-rebuild) skip_rebuild=1 ;;
        --no-cache) no_cache=(--no-cache) ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "docker-smoke: unknown option $arg (see --help)" >&2; exit 2 ;;
    esac
done

log() { printf '[docker-smoke %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { printf '[docker-smoke] FAILED: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

mkdir -p "$work"
rm -rf "$work/context" "$work/out-container" "$work/out-host" "$work/stages-host" \
    "$work/data-container" "$work/data-host"
summary="$work/summary.txt"
: > "$summary"
note() { log "$*"; printf '%s\n' "$*" >> "$summary"; }

# --------------------------------------------------------------------------------------
# 1. Engine

engine_pid=""
cleanup() {
    local status=$?
    if [[ -n "$engine_pid" && "$keep_engine" == 0 ]]; then
        log "stopping the dockerd this script started (pid $engine_pid)"
        kill "$engine_pid" 2>/dev/null || true
        for _ in $(seq 60); do kill -0 "$engine_pid" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$engine_pid" 2>/dev/null && log "dockerd $engine_pid still running after 30 s" >&2
    elif [[ -n "$engine_pid" ]]; then
        log "leaving dockerd (pid $engine_pid) running as asked; stop it with: kill $engine_pid"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A client that can drive BuildKit (the Dockerfile uses RUN --mount): one with the buildx
# plugin, or a client older than 23 (Debian bookworm's docker.io is 20.10) with
# DOCKER_BUILDKIT=1. A newer client without buildx refuses BuildKit builds.
pick_client() {
    local candidate major
    for candidate in docker /usr/bin/docker; do
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" buildx version >/dev/null 2>&1; then
            echo "$candidate"; return 0
        fi
        major=$("$candidate" --version 2>/dev/null | sed -n 's/^Docker version \([0-9]*\)\..*/\1/p')
        if [[ -n "$major" && "$major" -lt 23 ]]; then
            echo "$candidate"; return 0
        fi
    done
    return 1
}

if ! command -v dockerd >/dev/null 2>&1 || ! pick_client >/dev/null; then
    [[ $(id -u) == 0 ]] || die "no usable docker client/engine, and installing one needs root"
    log "installing Debian's docker.io"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io >/dev/null
fi
docker_cli=$(pick_client) || die "no docker client that can run BuildKit builds: install docker-buildx or Debian's docker.io"
export DOCKER_BUILDKIT=1
DOCKER=$docker_cli
export DOCKER

if ! "$DOCKER" info >/dev/null 2>&1; then
    [[ $(id -u) == 0 ]] || die "no Docker engine answers and starting one needs root"
    log "no Docker engine answers; starting dockerd (log: $work/dockerd.log)"
    dockerd --pidfile "$work/dockerd.pid" >"$work/dockerd.log" 2>&1 &
    engine_pid=$!
    for _ in $(seq 120); do
        "$DOCKER" info >/dev/null 2>&1 && break
        kill -0 "$engine_pid" 2>/dev/null || die "dockerd exited; see $work/dockerd.log"
        sleep 0.5
    done
    "$DOCKER" info >/dev/null 2>&1 || die "dockerd did not answer within 60 s; see $work/dockerd.log"
fi
note "engine: $("$DOCKER" version --format 'server {{.Server.Version}}, client {{.Client.Version}}') via $DOCKER"

# --------------------------------------------------------------------------------------
# 2. Base image

base_image=$(sed -n 's/^ARG PYTHON_IMAGE=//p' "$repo/Dockerfile" | head -n1)
[[ -n "$base_image" ]] || die "Dockerfile has no 'ARG PYTHON_IMAGE=' default"
if "$DOCKER" image inspect "$base_image" >/dev/null 2>&1; then
    note "base: $base_image present locally"
elif timeout 120 "$DOCKER" pull "$base_image" >"$work/pull.log" 2>&1; then
    note "base: pulled $base_image"
else
    log "cannot pull $base_image ($(tail -n1 "$work/pull.log")); building a local stand-in"
    if ! command -v debootstrap >/dev/null 2>&1; then
        [[ $(id -u) == 0 ]] || die "debootstrap is missing and installing it needs root"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
    fi
    t0=$(now)
    "$repo/docker/build-base.sh" all "${RECONBENCH_BASE_TARBALL:-$work/base-bookworm-py311.tar}" "$base_image" \
        >"$work/base.log" 2>&1 || die "building the base image failed; see $work/base.log"
    note "base: built $base_image locally from Debian bookworm in $(elapsed "$t0" "$(now)") s"
fi

# --------------------------------------------------------------------------------------
# 3. Build context, CA bundle, torch wheel

pip_config() { python3 -m pip config get "$1" 2>/dev/null | head -n1 || true; }

log "staging the build context in $work/context"
mkdir -p "$work/context"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do [[ -e "$f" ]] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf - | tar -xf - -C "$work/context")
mkdir -p "$work/context/docker/wheels"

ca_bundle=${PIP_CA_BUNDLE:-${PIP_CERT:-$(pip_config global.cert)}}
ca_bundle=${ca_bundle:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
secret_args=()
if [[ -f "$ca_bundle" ]]; then
    secret_args=(--secret "id=pip_ca,src=$ca_bundle")
    note "pip CA bundle: $ca_bundle (BuildKit secret, not in any layer)"
else
    note "pip CA bundle: none found; pip uses the image's own certificates"
fi

torch_version=$(sed -n 's/^torch==\([^ ;]*\).*/\1/p' "$repo/constraints.txt" | head -n1)
[[ -n "$torch_version" ]] || die "constraints.txt pins no torch version"
wheel_dirs=${TORCH_WHEEL_DIR:-${PIP_FIND_LINKS:-$(pip_config global.find-links)}}
torch_wheel=""
for dir in $wheel_dirs; do
    dir=${dir#file://}
    [[ -d "$dir" ]] || continue
    for candidate in "$dir"/torch-"$torch_version"+cpu-cp311-*.whl "$dir"/torch-"$torch_version"-cp311-*.whl; do
        [[ -f "$candidate" ]] && { torch_wheel=$candidate; break 2; }
    done
done
build_args=()
if [[ -n "$torch_wheel" ]]; then
    cp "$torch_wheel" "$work/context/docker/wheels/"
    note "torch: local wheel $(basename "$torch_wheel")"
else
    [[ -n "${TORCH_INDEX_URL:-}" ]] && build_args=(--build-arg "TORCH_INDEX_URL=$TORCH_INDEX_URL")
    note "torch: $torch_version from ${TORCH_INDEX_URL:-the default index of the Dockerfile}"
fi

# --------------------------------------------------------------------------------------
# 4. Build, then rebuild after a code-only change

build() {  # build TAG LOG
    "$DOCKER" build --progress=plain "${no_cache[@]}" "${secret_args[@]}" "${build_args[@]}" \
        -t "$1" "$work/context" >"$2" 2>&1 || { tail -n 40 "$2" >&2; die "docker build failed; see $2"; }
}

log "building $tag (log: $work/build.log)"
t0=$(now)
build "$tag" "$work/build.log"
build_seconds=$(elapsed "$t0" "$(now)")
size=$("$DOCKER" image inspect -f '{{.Size}}' "$tag")
note "build: $build_seconds s; image size $(awk -v s="$size" 'BEGIN { printf "%.2f GB (%d bytes)", s / 1e9, s }')"

user=$("$DOCKER" image inspect -f '{{.Config.User}}' "$tag")
[[ -n "$user" && "$user" != root && "${user%%:*}" != 0 ]] || die "the image runs as root (User='$user')"
note "image user: $user"

if [[ "$skip_rebuild" == 0 ]]; then
    printf '\n# docker-smoke: code-only change %s\n' "$(date -u +%s)" >>"$work/context/reconbench/__init__.py"
    log "rebuilding after a code-only change (log: $work/rebuild.log)"
    no_cache_saved=("${no_cache[@]}"); no_cache=()
    t0=$(now)
    build "$tag-rebuild" "$work/rebuild.log"
    no_cache=("${no_cache_saved[@]}")
    rebuild_seconds=$(elapsed "$t0" "$(now)")
    # Every RUN/COPY step of the deps stage (torch's install among them) must be a cache
    # hit: BuildKit's plain log prints "#N CACHED" for step N.
    read -r deps_steps deps_cached < <(awk '
        /^#[0-9]+ \[deps [0-9]+\/[0-9]+\] (RUN|COPY|WORKDIR)/ { step[$1] = 1 }
        / CACHED$/ { cached[$1] = 1 }
        END { n = 0; c = 0; for (s in step) { n++; if (s in cached) c++ } print n, c }' "$work/rebuild.log")
    weights_layer=$(awk '
        /^#[0-9]+ \[runtime [0-9]+\/[0-9]+\] COPY --from=weights/ { id = $1 }
        id != "" && $1 == id && / CACHED$/ { hit = 1 }
        END { print (hit ? "reused" : "rewritten") }' "$work/rebuild.log")
    note "rebuild after a code-only change: $rebuild_seconds s; deps-stage steps cached: $deps_cached of $deps_steps; weights layer $weights_layer"
    "$DOCKER" image rm "$tag-rebuild" >/dev/null
    [[ "$deps_steps" -gt 0 && "$deps_cached" == "$deps_steps" ]] \
        || die "the code-only rebuild re-ran dependency steps; see $work/rebuild.log"
fi

# --------------------------------------------------------------------------------------
# 5. Run in the container, offline

# The simulated dataset goes to the image user's ~/reconbench_data; mounting that folder
# lets step 7 compare it byte for byte with the one simulated outside.
mkdir -p "$work/out-container" "$work/data-container"
run_user=()
if [[ $(id -u) == 0 ]]; then
    chown "$user" "$work/out-container" "$work/data-container"   # run as the image's own non-root user
else
    run_user=(--user "$(id -u):$(id -g)")
fi
container_cmd=(bench --preset "$preset" --out /out --no-compare)
log "docker run --network none $tag ${container_cmd[*]}"
t0=$(now)
"$DOCKER" run --rm --network none "${run_user[@]}" -v "$work/out-container:/out" \
    -v "$work/data-container:/home/reconbench/reconbench_data" "$tag" "${container_cmd[@]}" \
    >"$work/run-container.log" 2>&1 || { tail -n 40 "$work/run-container.log" >&2; die "the container run failed; see $work/run-container.log"; }
container_seconds=$(elapsed "$t0" "$(now)")
note "container run (--network none, preset $preset): $container_seconds s"

# --------------------------------------------------------------------------------------
# 6. The same run outside the container

if [[ -n "${RECONBENCH_HOST_PYTHON:-}" ]]; then
    host_python=$RECONBENCH_HOST_PYTHON
    note "host run: $host_python (given)"
else
    stamp=$(cat "$repo/constraints.txt" "$repo/pyproject.toml" | sha256sum | cut -c1-16)
    venv="$work/host-venv-$stamp"
    host_python="$venv/bin/python"
    if [[ ! -x "$host_python" ]]; then
        log "creating the host venv $venv (same lock file as the image)"
        rm -rf "$work"/host-venv-*
        python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
        torch_args=()
        if [[ -n "$torch_wheel" ]]; then
            torch_args=(--find-links "$(dirname "$torch_wheel")")
        elif [[ -n "${TORCH_INDEX_URL:-}" ]]; then
            torch_args=(--extra-index-url "$TORCH_INDEX_URL")
        fi
        "$host_python" -m pip install -q "${torch_args[@]}" -c "$repo/constraints.txt" "$work/context" \
            >"$work/host-venv.log" 2>&1 || die "installing reconbench outside the container failed; see $work/host-venv.log"
    fi
    "$host_python" -m pip install -q --no-deps --force-reinstall "$work/context" >>"$work/host-venv.log" 2>&1 \
        || die "reinstalling reconbench in $venv failed; see $work/host-venv.log"
    note "host run: $venv (pip install -c constraints.txt of the same checkout)"
fi
host_bin=$(dirname "$host_python")
export RECONBENCH_CACHE="$work/host-cache"
"$host_bin/reconbench" weights fetch >"$work/host-weights.log" 2>&1 \
    || die "reconbench weights fetch failed outside the container; see $work/host-weights.log"
mkdir -p "$work/out-host"
log "outside: reconbench bench --preset $preset --out $work/out-host"
t0=$(now)
RECONBENCH_STAGE_CACHE="$work/stages-host" "$host_bin/reconbench" bench --preset "$preset" \
    --data "$work/data-host/simulated-$preset" --out "$work/out-host" --no-compare \
    >"$work/run-host.log" 2>&1 || { tail -n 40 "$work/run-host.log" >&2; die "the run outside the container failed; see $work/run-host.log"; }
host_seconds=$(elapsed "$t0" "$(now)")
note "host run (preset $preset): $host_seconds s"

# --------------------------------------------------------------------------------------
# 7. Compare

log "comparing the simulated datasets"
file_hashes() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
if diff <(file_hashes "$work/data-host") <(file_hashes "$work/data-container") >"$work/data.diff"; then
    note "simulated data: $(file_hashes "$work/data-host" | wc -l) files, byte-identical inside and outside"
else
    die "the simulated datasets differ; see $work/data.diff"
fi
log "comparing $work/out-host with $work/out-container"
ignore_args=()
for column in ${SMOKE_COMPARE_IGNORE:-}; do ignore_args+=(--ignore "$column"); done
if "$host_python" "$repo/scripts/compare_runs.py" "${ignore_args[@]}" "$work/out-host" "$work/out-container" | tee -a "$summary"; then
    note "docker-smoke: PASSED"
else
    die "the container's results differ from the run outside it (see above)"
fi
log "summary: $summary"
