#!/usr/bin/env bash
# Plattr's main job on embedded defaults: start the local stack, deploy the
# minimal example app and follow it to Running, then the team guide's
# example app (database, bucket, OIDC client with google and github) to
# Running with all five conditions true. The stack keeps running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
plattr=bin/plattr

$plattr dev up
eval "$($plattr dev env)"

echo
echo "== Deploying examples/minimal-app.yaml (database + workload) =="
$plattr deploy -f examples/minimal-app.yaml --wait --timeout 3m

echo
echo "== Deploying examples/seed-app.yaml (the team guide's example, unchanged) =="
# Its auth providers need credentials: placeholders the platform team would
# replace, in the platform namespace (plattr-system), where tenants cannot
# write (see docs/AUTH.md).
kubectl apply -f examples/auth-providers-secret.yaml
$plattr deploy -f examples/seed-app.yaml --wait --timeout 3m
$plattr status my-frontend -n default

echo
echo "== What the app gets =="
kubectl get configmap my-frontend-storage my-frontend-auth -n default \
  -o go-template='{{range .items}}{{.metadata.name}}:{{"\n"}}{{range $k, $v := .data}}  {{$k}}={{$v}}{{"\n"}}{{end}}{{end}}'
echo
kubectl get applications -A

echo
echo "== The platform API: the same apps, with their history =="
echo "\$ curl -H \"Authorization: Bearer \$PLATTR_TOKEN\" \$PLATTR_API_URL/api/v1/apps"
if command -v curl >/dev/null; then
  curl -fsS -H "Authorization: Bearer $PLATTR_TOKEN" "$PLATTR_API_URL/api/v1/apps"
else
  echo "(curl is not installed: apt-get install curl to try it)"
fi
echo
echo
echo "Portal: $PLATTR_API_URL  (sign in as $PLATTR_DEV_USER, password $PLATTR_DEV_PASSWORD)"
echo "The stack keeps running. Use it from a shell with: eval \"\$($plattr dev env)\""
echo "Stop it with: $plattr dev down   (add --purge to delete its data)"
