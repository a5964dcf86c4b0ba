#!/usr/bin/env bash
# Prints what to open once the platform is up: API docs, MLflow, Prometheus, Grafana, and three curl
# commands that work from this machine. Usage: print-access.sh TARGET NAMESPACE RELEASE
set -euo pipefail
target=${1:?target (kind|local|cloud)} namespace=${2:-mlkube} release=${3:-mlkube}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
platform_value() { sed -n "s/^$1=//p" "$root/platform.env"; }

url_of() {  # url_of SERVICE LOCALHOST_PORT [NAMESPACE]: how this machine reaches a Service
  local svc=$1 port=$2 namespace=${3:-$namespace} ip svc_port
  if ! kubectl -n "$namespace" get service "$svc" >/dev/null 2>&1; then echo "(not installed)"; return; fi
  case $target in
    kind) echo "http://127.0.0.1:$port" ;;  # NodePorts mapped by manifests/kind-config.yaml
    local)  # the host routes the service range to the node: ClusterIPs answer from here
      ip=$(kubectl -n "$namespace" get service "$svc" -o jsonpath='{.spec.clusterIP}')
      svc_port=$(kubectl -n "$namespace" get service "$svc" -o jsonpath='{.spec.ports[0].port}')
      echo "http://$ip:$svc_port" ;;
    *) echo "http://127.0.0.1:$port  (after: kubectl -n $namespace port-forward service/$svc $port)" ;;
  esac
}

server=$(url_of "$release-model-server" 8080)
base=${server%% *}
cat <<MSG

mlkube is up (target: $target, namespace: $namespace, release: $release)

  Model server API docs  $server/docs
  MLflow                 $(url_of "$release-mlflow" 5000)
  Prometheus             $(url_of "$release-monitoring-prometheus" 9090)
  Grafana                $(url_of "$release-monitoring-grafana" 3000)
  Gateway (HTTPRoute)    $(url_of "$(platform_value GATEWAY_NAME)" "$(platform_value GATEWAY_PORT)" "$(platform_value GATEWAY_NAMESPACE)")  (canary weights apply here)

Your shell (the pinned kubectl and helm, pointed at this cluster; or run: make shell):
  eval "\$(cd $root && make env)"

Try it:
  curl -s $base/predict -H 'content-type: application/json' \\
    -d '{"island":"Biscoe","bill_length_mm":39.1,"bill_depth_mm":18.7,"flipper_length_mm":181,"body_mass_g":3750,"sex":"male"}'
  curl -s $base/v1/models/penguins-svm:predict -H 'content-type: application/json' \\
    -d '{"instances":[{"island":"Dream","bill_length_mm":46.5,"bill_depth_mm":17.9,"flipper_length_mm":192,"body_mass_g":3500,"sex":"female"}]}'
  curl -s $base/predict/compare -H 'content-type: application/json' \\
    -d '{"penguins":[{"island":"Torgersen","bill_length_mm":40.3,"bill_depth_mm":18,"flipper_length_mm":195,"body_mass_g":3250,"sex":"female"}]}'

Roll out:
  kubectl -n $namespace rollout status deployment/$release-model-server
  helm -n $namespace history $release

Remove:    make down

Training Jobs (their runs and registered models are in MLflow; logs: kubectl -n $namespace logs job/NAME):
$(kubectl -n "$namespace" get jobs -l "app.kubernetes.io/instance=$release" 2>&1 | sed 's/^/  /')
MSG
