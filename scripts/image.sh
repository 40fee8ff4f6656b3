#!/usr/bin/env bash
# Builds the Sightline container image from the binary built on this machine, pulling nothing:
# the image is the last stage of deploy/container/Containerfile (FROM scratch) over a root file
# system that deploy/container/rootfs.sh assembles here (the binary, the shared libraries it
# loads, a CA bundle, a passwd file for the unprivileged user). For a build that compiles inside
# a builder image, see the Containerfile.
#
#   bash scripts/image.sh                  # cargo build --release, then the image
#   SIGHTLINE_BIN=path bash scripts/image.sh   # an existing binary (for example a debug build)
#   IMAGE=sightline:dev bash scripts/image.sh  # the tag (default sightline:VERSION and :latest)
#
# Uses podman, or buildah when podman is missing. Prints the image id last.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v podman >/dev/null 2>&1; then
  build=(podman build)
elif command -v buildah >/dev/null 2>&1; then
  build=(buildah bud)
else
  echo "image.sh: needs podman or buildah (Debian: apt-get install podman)" >&2
  exit 1
fi

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
bin=${SIGHTLINE_BIN:-}
if [ -z "$bin" ]; then
  # The whole workspace, as `cargo build --release` does: the same features, so no rebuild.
  cargo build --release --locked >&2
  target=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  bin=$target/release/sightline
fi
[ -x "$bin" ] || { echo "image.sh: no binary at $bin" >&2; exit 1; }

ctx=$(mktemp -d /tmp/sightline-image.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
bash deploy/container/rootfs.sh "$bin" "$ctx/image"
# The runtime stage as written, reading the local folder where it reads the build stage.
sed -n '/^FROM scratch AS runtime$/,$p' deploy/container/Containerfile |
  sed 's|--from=build \(.*\)/image/|\1image/|' >"$ctx/Containerfile"
grep -q '^COPY image/root/ /$' "$ctx/Containerfile" || {
  echo "image.sh: the Containerfile's runtime stage has changed shape; update this script" >&2
  exit 1
}

tags=(-t "${IMAGE:-sightline:$version}")
[ -n "${IMAGE:-}" ] || tags+=(-t sightline:latest)
iidfile=$ctx/iid
"${build[@]}" --format docker --pull=never --layers=false --iidfile "$iidfile" "${tags[@]}" \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.source=https://github.com/sightline-proxy/sightline" \
  --label "org.opencontainers.image.licenses=Apache-2.0" \
  -f "$ctx/Containerfile" "$ctx" >&2
cat "$iidfile"
echo
