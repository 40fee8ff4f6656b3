#!/usr/bin/env bash
# The Kubernetes manifests in deploy/kubernetes, checked offline: kubernetes-validate (PyPI; it
# ships the API schemas) in strict mode against a current Kubernetes release, then what the
# schemas cannot see: probes on /healthz and /readyz of the admin port, the config mounted as a
# folder (so ConfigMap edits reach the file Sightline watches), the admin token read from the
# mounted Secret, the egress NetworkPolicy shape, and each ConfigMap's config accepted by
# `sightline check`.
#
#   bash tests/kubernetes.sh [BINARY]     # default: the debug binary of this checkout
set -euo pipefail
cd "$(dirname "$0")/.."

kubernetes=1.37.0
venv=${KUBERNETES_VALIDATE_VENV:-/tmp/sightline-kubernetes-validate}
if ! "$venv/bin/kubernetes-validate" --version 2>/dev/null | grep -q "$kubernetes"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "kubernetes-validate==$kubernetes"
fi
target=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin=${1:-$target/debug/sightline}
[ -x "$bin" ] || { echo "kubernetes test: no binary at $bin (cargo build first)"; exit 1; }

manifests=(deploy/kubernetes/*.yaml)
"$venv/bin/kubernetes-validate" --strict --quiet -k "$kubernetes" "${manifests[@]}"

work=$(mktemp -d /tmp/sightline-kubernetes-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$venv/bin/python" - "$work" "${manifests[@]}" <<'PY'
import sys, yaml
work, files = sys.argv[1], sys.argv[2:]
docs = [(f, d) for f in files for d in yaml.safe_load_all(open(f)) if d]
def fail(msg):
    sys.exit(f"FAIL: kubernetes: {msg}")
kinds = {}
for f, d in docs:
    kinds.setdefault(d["kind"], []).append((f, d))
configmaps = {d["metadata"]["name"]: d for _, d in kinds.get("ConfigMap", [])}
shapes = set()
for f, dep in kinds.get("Deployment", []):
    name = dep["metadata"]["name"]
    pod = dep["spec"]["template"]["spec"]
    shapes.add(dep["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"])
    volumes = {v["name"]: v for v in pod["volumes"]}
    for c in pod["containers"]:
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        for probe, path in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")]:
            get = c.get(probe, {}).get("httpGet", {})
            if get.get("path") != path or get.get("port") != "admin":
                fail(f"{f}: {name}: {probe} is not GET {path} on the admin port")
        if c["securityContext"].get("allowPrivilegeEscalation") is not False:
            fail(f"{f}: {name}: privilege escalation allowed")
        if not pod["securityContext"].get("runAsNonRoot"):
            fail(f"{f}: {name}: may run as root")
        mounts = {m["name"]: m for m in c["volumeMounts"]}
        args = c["args"]
        config_path = args[args.index("--config") + 1]
        config_mount = next((m for m in mounts.values()
                             if "configMap" in volumes[m["name"]]
                             and config_path.startswith(m["mountPath"] + "/")), None)
        if config_mount is None:
            fail(f"{f}: {name}: --config {config_path} is not in a mounted ConfigMap")
        if "subPath" in config_mount:
            fail(f"{f}: {name}: the config is mounted with subPath, which never sees updates")
        cm = configmaps[volumes[config_mount["name"]]["configMap"]["name"]]
        key = config_path[len(config_mount["mountPath"]) + 1:]
        config = yaml.safe_load(cm["data"][key])
        token_file = config["admin"]["token_file"]
        secret_mounts = [m["mountPath"] + "/" for m in mounts.values()
                         if "secret" in volumes[m["name"]]]
        if not any(token_file.startswith(p) for p in secret_mounts):
            fail(f"{f}: {name}: admin.token_file {token_file} is not in a mounted Secret")
        if ports.get("admin") != int(config["admin"]["listen"].rsplit(":", 1)[1]):
            fail(f"{f}: {name}: the admin port is not the one admin.listen binds")
        # For `sightline check` here: the token where the Secret would put it.
        config["admin"]["token_file"] = f"{work}/admin-token"
        with open(f"{work}/{name}.yaml", "w") as out:
            yaml.safe_dump(config, out)
if shapes != {"gateway", "egress"}:
    fail(f"want the gateway and the egress shapes, found {sorted(shapes)}")
policies = [d for _, d in kinds.get("NetworkPolicy", [])]
everyone = [p for p in policies if p["spec"]["podSelector"] == {} and "Egress" in p["spec"]["policyTypes"]]
if not everyone:
    fail("no NetworkPolicy limits the egress of every pod in the namespace")
for p in everyone:
    for rule in p["spec"].get("egress", []):
        for to in rule.get("to", [{}]):
            if "ipBlock" in to or ("namespaceSelector" in to and "podSelector" not in to) or to == {}:
                fail(f"{p['metadata']['name']}: lets every pod leave the namespace: {to}")
out = [p for p in policies if p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name") == "sightline"
       and p["spec"].get("egress") == [{}]]
if not out:
    fail("no NetworkPolicy lets Sightline's egress pods leave the namespace")
PY
printf 'k8s-admin-token-0123456789abcdef\n' >"$work/admin-token"
for config in "$work"/*.yaml; do
  if ! out=$("$bin" check --config "$config" 2>&1); then
    # Builds from before admin.token_file cannot read these configs at all.
    if grep -q 'admin.token_file: unknown field' <<<"$out"; then
      echo "kubernetes test: sightline check of the ConfigMaps skipped: this build has no admin.token_file"
      break
    fi
    echo "$out" >&2
    echo "FAIL: kubernetes: the config of $(basename "$config" .yaml) is refused by sightline check" >&2
    exit 1
  fi
done
echo "1 passed, 0 failed: kubernetes manifests (kubernetes-validate --strict, Kubernetes $kubernetes)"
