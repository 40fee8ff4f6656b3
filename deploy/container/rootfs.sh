#!/usr/bin/env bash
# Assembles the Sightline image's files in OUT from a built binary. OUT/root is the root file
# system: the binary, the shared libraries ldd says it loads (and their loader), the CA bundle
# for upstream TLS, a passwd and group file naming the unprivileged user, the config folder.
# OUT/store is the (empty) store folder, copied to /var/lib/sightline owned by that user.
# Used by the Containerfile's build stage and by scripts/image.sh alike.
#
#   deploy/container/rootfs.sh BINARY OUT
set -euo pipefail
bin=${1:?usage: rootfs.sh BINARY OUT}
out=${2:?usage: rootfs.sh BINARY OUT}
uid=65532

[ -x "$bin" ] || { echo "rootfs.sh: $bin is not an executable" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out/store"
out=$out/root
mkdir -p "$out/usr/local/bin" "$out/etc/sightline" "$out/var/lib" "$out/tmp"
chmod 1777 "$out/tmp"
install -m 0755 "$bin" "$out/usr/local/bin/sightline"

# Every library the dynamic loader resolves, at the same path, symlinks followed: lines look
# like `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`.
# glibc 2.34 and later carry the files and dns NSS modules inside libc itself, so name lookups
# need no dlopen()ed module.
ldd "$bin" | while read -r first second third _; do
  case "$second" in
    "=>") lib=$third ;;
    *) lib=$first ;;
  esac
  case "$lib" in
    /*) mkdir -p "$out$(dirname "$lib")"; cp -L "$lib" "$out$lib" ;;
  esac
done

# Public CAs for upstream and egress TLS (rustls-native-certs reads this bundle).
for ca in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
  if [ -f "$ca" ]; then
    mkdir -p "$out/etc/ssl/certs"
    cp -L "$ca" "$out/etc/ssl/certs/ca-certificates.crt"
    break
  fi
done

cat >"$out/etc/passwd" <<PASSWD
root:x:0:0:root:/root:/sbin/nologin
sightline:x:$uid:$uid:Sightline:/var/lib/sightline:/sbin/nologin
PASSWD
cat >"$out/etc/group" <<GROUP
root:x:0:
sightline:x:$uid:
GROUP
