#!/usr/bin/env bash
# Builds the real components Plattr's tests and local stack run, from the Go
# module proxy, into bin/<name>-<version>/. A binary is rebuilt only when its
# version changes (the directory name is the cache key), so a warm run is a
# no-op. Usage: hack/build-tools.sh [GROUP|NAME], where GROUP is
#   stack  what the local stack and `make build` need (`make run`): the
#          control plane, kwok, versitygw, Dex, and Helm (charts are
#          linted, packaged and pushed with it);
#   test   what only tests run: promtool, actionlint and the Prometheus
#          Operator's CRDs (`make test`; promtool alone is ~3.5 min cold);
#   all    both (the default);
# and NAME one of k8s|kwok|versitygw|dex|nats|helm|promtool|actionlint|monitoring-crds.
# A new part of the local stack goes in `stack`, a tool only tests run in
# `test`, so a cold `make run` builds no test tool.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/hack/tools"
bin="$root/bin"

k8s_version=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$tools/go.mod")
kwok_version=$(awk '$1=="sigs.k8s.io/kwok"{print $2; exit}' "$tools/go.mod")
# The S3-compatible object store; installed as a binary from its module.
versitygw_version=v1.8.0
# Dex has only a pseudo-version on the proxy and needs newer libraries than
# Kubernetes allows, so it has its own module (hack/dex) with a small main.
dex_version=$(awk '$1=="github.com/dexidp/dex"{print $2; exit}' "$root/hack/dex/go.mod")
# The NATS server, in its own module (hack/nats) so its libraries never pull
# Plattr's; a small main runs the upstream server package.
nats_version=$(awk '{for (i = 1; i < NF; i++) if ($i == "github.com/nats-io/nats-server/v2") {print $(i+1); exit}}' "$root/hack/nats/go.mod")
[ -n "$nats_version" ] || { echo "hack/nats/go.mod names no github.com/nats-io/nats-server/v2 version" >&2; exit 1; }
# What the chart, alert and workflow tests run: Helm, promtool (from the
# Prometheus module, whose versions are v0.<major><minor>.<patch>, pinned in
# hack/promtool/go.mod) and actionlint, each built from its module.
helm_version=v3.22.0
promtool_version=$(awk '$1=="github.com/prometheus/prometheus"{print $2; exit}' "$root/hack/promtool/go.mod")
actionlint_version=v1.7.12
# The Prometheus Operator's ServiceMonitor and PrometheusRule CRDs, from its
# module's examples: the chart's install test applies them first, as a
# cluster with kube-prometheus-stack has them.
monitoring_crds_version=v0.89.0

build_k8s() {
  local dir="$bin/k8s-$k8s_version"
  if [ -x "$dir/k8s" ]; then return; fi
  echo "building Kubernetes $k8s_version control plane (cold: several minutes on 2 cores)..." >&2
  mkdir -p "$dir.tmp"
  (cd "$tools" && go build -trimpath \
    -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$k8s_version" | cut -d. -f2)" \
    -o "$dir.tmp/k8s" ./cmd/k8s)
  for p in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    ln -sf k8s "$dir.tmp/$p"
  done
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

build_kwok() {
  local dir="$bin/kwok-$kwok_version"
  if [ -x "$dir/kwok" ]; then return; fi
  echo "building kwok $kwok_version..." >&2
  mkdir -p "$dir.tmp"
  (cd "$tools" && go build -trimpath -ldflags "-s -w" -o "$dir.tmp/kwok" sigs.k8s.io/kwok/cmd/kwok)
  # kwok's stage definitions ship in its module; copy the ones we run with.
  local src
  src=$(cd "$tools" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage
  for f in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
           pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
    { cat "$src/$f.yaml"; echo "---"; } >> "$dir.tmp/stages.yaml"
  done
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

build_versitygw() {
  local dir="$bin/versitygw-$versitygw_version"
  if [ -x "$dir/versitygw" ]; then return; fi
  echo "building versitygw $versitygw_version (about 2 minutes cold)..." >&2
  mkdir -p "$dir.tmp"
  GOBIN="$dir.tmp" go install -trimpath -ldflags "-s -w" "github.com/versity/versitygw/cmd/versitygw@$versitygw_version"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

build_nats() {
  local dir="$bin/nats-$nats_version"
  if [ -x "$dir/nats-server" ] && [ "$dir/nats-server" -nt "$root/hack/nats/cmd/nats-server/main.go" ]; then return; fi
  echo "building the NATS server $nats_version..." >&2
  mkdir -p "$dir.tmp"
  (cd "$root/hack/nats" && go build -trimpath -ldflags "-s -w" -o "$dir.tmp/nats-server" ./cmd/nats-server)
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

build_dex() {
  local dir="$bin/dex-$dex_version"
  if [ -x "$dir/dex" ] && [ "$dir/dex" -nt "$root/hack/dex/cmd/dex/main.go" ]; then return; fi
  echo "building Dex $dex_version..." >&2
  mkdir -p "$dir.tmp"
  (cd "$root/hack/dex" && go build -trimpath -ldflags "-s -w" -o "$dir.tmp/dex" ./cmd/dex)
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

# go_install NAME VERSION PACKAGE [LDFLAGS]: one binary from the module
# proxy into bin/NAME-VERSION/.
go_install() {
  local name=$1 version=$2 pkg=$3 ldflags=${4:-} dir="$bin/$1-$2"
  if [ -x "$dir/$name" ]; then return; fi
  echo "building $name $version..." >&2
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  GOBIN="$dir.tmp" go install -trimpath -ldflags "-s -w $ldflags" "$pkg@$version"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

# Helm's release build stamps its version and the Kubernetes version its
# offline commands (template, lint) assume; without them it claims v1.20.
build_helm() {
  go_install helm "$helm_version" helm.sh/helm/v3/cmd/helm \
    "-X helm.sh/helm/v3/internal/version.version=$helm_version -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=36 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=36"
}
# promtool is built in its own module (hack/promtool: see its go.mod for why).
build_promtool() {
  local dir="$bin/promtool-$promtool_version"
  if [ -x "$dir/promtool" ]; then return; fi
  echo "building promtool $promtool_version (about 3 minutes cold)..." >&2
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  (cd "$root/hack/promtool" && go build -trimpath -ldflags "-s -w" -o "$dir.tmp/promtool" github.com/prometheus/prometheus/cmd/promtool)
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}
build_actionlint() { go_install actionlint "$actionlint_version" github.com/rhysd/actionlint/cmd/actionlint; }

build_monitoring_crds() {
  local dir="$bin/monitoring-crds-$monitoring_crds_version"
  if [ -f "$dir/monitoring.coreos.com_prometheusrules.yaml" ]; then return; fi
  echo "fetching the Prometheus Operator's CRDs $monitoring_crds_version..." >&2
  local src
  src=$(go mod download -json "github.com/prometheus-operator/prometheus-operator@$monitoring_crds_version" | awk -F'"' '$2=="Dir"{print $4}')
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  cp "$src/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
     "$src/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" "$dir.tmp/"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

case "${1:-all}" in
  k8s) build_k8s ;;
  kwok) build_kwok ;;
  versitygw) build_versitygw ;;
  dex) build_dex ;;
  nats) build_nats ;;
  helm) build_helm ;;
  promtool) build_promtool ;;
  actionlint) build_actionlint ;;
  monitoring-crds) build_monitoring_crds ;;
  stack) build_k8s; build_kwok; build_versitygw; build_dex; build_nats; build_helm ;;
  test) build_promtool; build_actionlint; build_monitoring_crds ;;
  all) build_k8s; build_kwok; build_versitygw; build_dex; build_nats; build_helm; build_promtool; build_actionlint; build_monitoring_crds ;;
  *) echo "usage: $0 [stack|test|all|k8s|kwok|versitygw|dex|nats|helm|promtool|actionlint|monitoring-crds]" >&2; exit 2 ;;
esac
# Print the directories so callers can pick them up.
echo "K8S_BIN=$bin/k8s-$k8s_version"
echo "KWOK_BIN=$bin/kwok-$kwok_version"
echo "VERSITYGW_BIN=$bin/versitygw-$versitygw_version"
echo "DEX_BIN=$bin/dex-$dex_version"
echo "NATS_BIN=$bin/nats-$nats_version"
echo "HELM=$bin/helm-$helm_version/helm"
echo "PROMTOOL=$bin/promtool-$promtool_version/promtool"
echo "ACTIONLINT=$bin/actionlint-$actionlint_version/actionlint"
