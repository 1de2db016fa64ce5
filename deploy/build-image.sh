#!/usr/bin/env bash
# Build the articlebot image and run its smoke stage (docs/operations.md, "Running it in a container").
#
#   deploy/build-image.sh              # a normal machine: BASE_IMAGE=python:3.12-slim, torch from
#                                      # the PyTorch CPU index
#   deploy/build-image.sh --local      # a machine that pulls no images and reaches only PyPI:
#                                      # a Debian bookworm base made with mmdebstrap, and this
#                                      # machine's pip config, CA bundle and wheel folders
#
# Environment: IMAGE (default localhost/articlebot:latest), BASE_IMAGE, TORCH_INDEX,
# ENGINE (podman or docker; default podman), WORK (the sources' snapshot, and --local's base.tar;
# /tmp/articlebot-image).
# Slow (torch, the ONNX export, the smoke stage): not part of .ci/run.
set -euo pipefail

cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-localhost/articlebot:latest}
ENGINE=${ENGINE:-podman}
WORK=${WORK:-/tmp/articlebot-image}
LOCAL_BASE=localhost/articlebot-base
args=()

die() { echo "build-image: $*" >&2; exit 2; }

# A Debian bookworm base with python3 (3.11, the version of the local torch wheel).
make_local_base() {
    command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: apt-get install -y mmdebstrap podman"
    if podman image exists "$LOCAL_BASE"; then
        echo "base: $LOCAL_BASE exists (podman rmi it to rebuild)"
        return
    fi
    mkdir -p "$WORK"
    mmdebstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$WORK/base.tar"
    podman import "$WORK/base.tar" "$LOCAL_BASE"
}

# The host's pip setup, read-only inside every RUN: CA bundle, pip configs, wheel folders.
local_mounts() {
    local path
    for path in /etc/ssl/certs /etc/pip.conf /etc/xdg/pip /root/.config/pip \
        /opt/wheels /opt/pypi /opt/pypi-more; do
        [[ -e $path ]] && args+=(-v "$path:$path:ro")
    done
    # The settings pip reads from the environment here (find-links, cert) travel as files
    # above; a torch wheel must be among them or pip goes to PyPI's CUDA build.
    ls /opt/wheels/torch-* >/dev/null 2>&1 || echo "build-image: warning: no torch wheel in /opt/wheels" >&2
}

if [[ ${1:-} == --local ]]; then
    [[ $ENGINE == podman ]] || die "--local needs podman (ENGINE=podman)"
    make_local_base
    BASE_IMAGE=${BASE_IMAGE:-$LOCAL_BASE}
    TORCH_INDEX=${TORCH_INDEX-}  # empty: the local wheel folder, via the mounted pip config
    args+=(--isolation chroot)
    local_mounts
elif [[ -n ${1:-} ]]; then
    die "unknown argument $1 (only --local)"
fi
args+=(--build-arg "BASE_IMAGE=${BASE_IMAGE:-python:3.12-slim}")
[[ -v TORCH_INDEX ]] && args+=(--build-arg "TORCH_INDEX=$TORCH_INDEX")

# Both builds read one snapshot of the context: sources edited meanwhile cannot ship untested.
ctx="$WORK/context"
rm -rf "$ctx" && mkdir -p "$ctx"
cp -a Containerfile .dockerignore $(sed -n 's/^!//p' .dockerignore) "$ctx/"

start=$SECONDS
"$ENGINE" build "${args[@]}" -f "$ctx/Containerfile" --target smoke -t "$IMAGE-smoke" "$ctx"
smoke_s=$((SECONDS - start))
"$ENGINE" build "${args[@]}" -f "$ctx/Containerfile" --target final -t "$IMAGE" "$ctx"
echo "built $IMAGE in $((SECONDS - start)) s (through the smoke stage: ${smoke_s} s)"
"$ENGINE" image inspect --format '{{.Size}}' "$IMAGE" \
    | awk '{ printf "image size: %.0f MB (%d bytes)\n", $1 / 1e6, $1 }'
