#!/usr/bin/env bash
# Release check (docs/releasing.md): build the sdist and the wheel, check that the package
# data is inside, install the wheel into a fresh virtualenv OUTSIDE the source tree (its
# dependencies from the same index as the project's), then run `tessera --version`,
# `tessera check` and a small `tessera demo`: served, polled on /healthz, signed in to, read
# through the API and the web interface, stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

version=$("$python" -c 'import ast, pathlib; tree = ast.parse(pathlib.Path("engine/__init__.py").read_text()); print(next(n.value.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "__version__"))')
echo "-- python -m build (tessera-crm $version)"
"$python" -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; exit 1; }
wheel="$work/dist/tessera_crm-$version-py3-none-any.whl"
sdist="$work/dist/tessera_crm-$version.tar.gz"
[ -f "$wheel" ] && [ -f "$sdist" ] || { echo "expected $wheel and $sdist"; ls "$work/dist"; exit 1; }

echo "-- package data in the wheel and the sdist"
"$python" - "$wheel" "$sdist" <<'PY'
import sys, tarfile, zipfile
wheel = zipfile.ZipFile(sys.argv[1]).namelist()
sdist = [n.split("/", 1)[1] for n in tarfile.open(sys.argv[2]).getnames() if "/" in n]
must = {
    "a pack manifest": lambda n: n.startswith("metadata/") and n.endswith("/pack.yaml"),
    "an entity": lambda n: n.startswith("metadata/") and "/entities/" in n and n.endswith(".yaml"),
    "seed data": lambda n: n.startswith("metadata/") and "/seed/" in n,
    "a mail template": lambda n: n.startswith("metadata/") and n.endswith(".email.txt"),
    "the system pack": lambda n: n.startswith("engine/system_pack/") and n.endswith(".yaml"),
    "a JSON Schema": lambda n: n.startswith("engine/meta/schemas/") and n.endswith(".json"),
    "the DSL grammar": lambda n: n == "engine/dsl/grammar.lark",
    "a UI template": lambda n: n.startswith("ui/templates/") and n.endswith(".html"),
    "a UI stylesheet": lambda n: n.startswith("ui/static/") and n.endswith(".css"),
    "a UI script": lambda n: n.startswith("ui/static/") and n.endswith(".js"),
    "a migration": lambda n: n.startswith("migrations/versions/") and n.endswith(".py"),
    "alembic.ini or env": lambda n: n.startswith("migrations/") and n.endswith((".ini", ".mako")),
    "a plugin": lambda n: n.startswith("plugins/") and n.endswith("__init__.py") and n.count("/") == 2,
    "a plugin's pack": lambda n: n.startswith("plugins/") and "/packs/" in n and n.endswith("pack.yaml"),
}
for label, names in (("wheel", wheel), ("sdist", sdist)):
    missing = [what for what, test in must.items() if not any(map(test, names))]
    if missing:
        sys.exit(f"the {label} lacks: {', '.join(missing)}")
    if any(n.startswith(("tests/", "docs/")) for n in names if label == "wheel"):
        sys.exit("the wheel ships tests/ or docs/")
print(f"ok: wheel {len(wheel)} files, sdist {len(sdist)} files")
PY

echo "-- install the wheel into a fresh virtualenv"
"$python" -m venv "$work/venv"
{ "$work/venv/bin/python" -m pip install --quiet --upgrade pip && "$work/venv/bin/python" -m pip install --quiet "$wheel"; } \
  >"$work/pip.log" 2>&1 || { tail -40 "$work/pip.log"; exit 1; }
mkdir "$work/run"
cd "$work/run"  # outside the source tree: nothing can be imported from the checkout
export PYTHONPATH="" TESSERA_DATABASE_URL="sqlite:///$work/run/tessera.db" TESSERA_INSTANCE_PATH="$work/run/.tessera"
unset TESSERA_REDIS_URL TESSERA_PACKS TESSERA_EXTRA_PACK_PATHS
tessera="$work/venv/bin/tessera"
"$work/venv/bin/python" -c 'import engine, sys; sys.exit(0 if engine.__file__.startswith(sys.prefix) else f"engine imported from {engine.__file__}")'
got=$("$tessera" --version)
[ "$got" = "tessera, version $version" ] || { echo "tessera --version said: $got"; exit 1; }
echo "$got"
"$tessera" check

echo "-- tessera demo (accounts and its dependencies), served, polled, stopped"
port=$("$work/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TESSERA_PACKS=accounts "$tessera" demo --port "$port" >"$work/demo.log" 2>&1 &
server=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 300); do
  curl -fs "$base/healthz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$work/demo.log"; echo "tessera demo stopped"; exit 1; }
  sleep 1
done
curl -fs "$base/healthz" >/dev/null || { tail -40 "$work/demo.log"; echo "no /healthz after 300 s"; exit 1; }
token=$(curl -fs -X POST "$base/api/v1/auth/token" -H 'Content-Type: application/json' \
  -d '{"email": "admin@demo.tessera.dev", "password": "Tessera-demo-2026"}' \
  | "$work/venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["token"])')
curl -fs "$base/api/v1/account?limit=1" -H "Authorization: Bearer $token" | grep -q '"data": \[{' \
  || { echo "the demo accounts are not listed"; exit 1; }
curl -fs "$base/api/v1/openapi.json" -H "Authorization: Bearer $token" >/dev/null
curl -fs "$base/login" | grep -qi "<form" || { echo "the sign-in page did not render"; exit 1; }
curl -fs "$base/assets/tessera.css" >/dev/null || { echo "the UI static files are missing"; exit 1; }
echo "ok: the wheel installs, checks its packs and serves the demo"
