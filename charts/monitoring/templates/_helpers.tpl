{{- define "monitoring.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "monitoring.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 45 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 45 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 45 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "monitoring.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "monitoring.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mlkube
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: call with (dict "root" . "component" "prometheus"). */}}
{{- define "monitoring.selectorLabels" -}}
app.kubernetes.io/name: {{ include "monitoring.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels kube-prometheus-stack selects the monitors and rules by. */}}
{{- define "monitoring.stackLabels" -}}
{{ include "monitoring.labels" . }}
{{- with .Values.kubePrometheusStack.selectorLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "monitoring.selfContained" -}}
{{- if eq .Values.mode "self-contained" }}true{{ end }}
{{- end }}

{{/* Namespaces the targets live in. */}}
{{- define "monitoring.namespaces" -}}
{{- toJson (concat (list .Release.Namespace) .Values.scrape.extraNamespaces | uniq) }}
{{- end }}

{{/* Namespaces `kubernetes` discovery reads pods in: the targets' and, when scraped, the Argo Rollouts controller's. */}}
{{- define "monitoring.discoveryNamespaces" -}}
{{- $namespaces := include "monitoring.namespaces" . | fromJsonArray }}
{{- if .Values.scrape.argoRollouts.enabled }}
{{- $namespaces = append $namespaces .Values.scrape.argoRollouts.namespace }}
{{- end }}
{{- toJson ($namespaces | uniq) }}
{{- end }}

{{/* Egress rule to the Kubernetes API server: its endpoints' addresses when given, any address otherwise, on its ports only. */}}
{{- define "monitoring.apiServerEgress" -}}
{{- $np := (.Values.global).networkPolicy | default dict }}
- ports:
    {{- range $np.apiServerPorts | default (list 443 6443) }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
  {{- with $np.apiServer }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* Egress rule to the DNS peers, on port 53 (UDP and TCP). */}}
{{- define "monitoring.dnsEgress" -}}
- to:
    {{- toYaml .Values.networkPolicy.egress.dns | nindent 4 }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end }}

{{/* Base name of a rule or dashboard file: "files/rules/serving-alerts.yaml" -> "serving-alerts". */}}
{{- define "monitoring.fileBase" -}}
{{- base . | trimSuffix (ext .) | lower | replace "_" "-" | replace "." "-" }}
{{- end }}

{{- define "monitoring.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .runAsUser }}
runAsGroup: {{ .runAsUser }}
fsGroup: {{ .runAsUser }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "monitoring.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Prometheus configuration of the self-contained mode: targets found by DNS or through the Kubernetes API. */}}
{{- define "monitoring.prometheusConfig" -}}
{{- $v := .Values }}
global:
  scrape_interval: {{ $v.scrape.interval }}
  evaluation_interval: {{ $v.scrape.interval }}
rule_files:
  - /etc/prometheus/rules/*.yaml
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:{{ $v.prometheus.port }}"]
{{- range $job, $target := dict "model-server" $v.scrape.modelServer "mlflow" $v.scrape.mlflow }}
{{- if $target.enabled }}
  - job_name: {{ $job }}
    metrics_path: {{ $target.path }}
    {{- with $target.basicAuthSecret }}
    basic_auth:
      # Prometheus 2.42 (Debian's) reads no username_file: the name is a value, the password a mounted file.
      username: {{ $target.basicAuthUsername | quote }}
      password_file: {{ printf "/etc/prometheus/secrets/%s/server-password" . }}
    {{- end }}
    {{- if eq $v.prometheus.discovery "dns" }}
    dns_sd_configs:
      - type: A
        port: {{ $target.servicePort }}
        # New pods (a canary) must be scraped within seconds: rollouts are judged on their first requests.
        refresh_interval: {{ $v.scrape.interval }}
        names:
          {{- range $ns := include "monitoring.namespaces" $ | fromJsonArray }}
          - {{ printf "%s-%s.%s.svc.%s" $.Release.Name $target.service $ns $v.scrape.clusterDomain }}
          {{- end }}
    relabel_configs:
      # The namespace is the second label of the Service's DNS name.
      - source_labels: [__meta_dns_name]
        regex: '[^.]+\.([^.]+)\..*'
        target_label: namespace
    {{- else }}
    kubernetes_sd_configs:
      - role: pod
        namespaces:
          names: {{ include "monitoring.namespaces" $ }}
    relabel_configs:
      {{- range $key, $value := $target.podLabels }}
      - source_labels: [{{ printf "__meta_kubernetes_pod_label_%s" (regexReplaceAll "[^a-zA-Z0-9_]" $key "_") }}]
        regex: {{ $value | quote }}
        action: keep
      {{- end }}
      - source_labels: [__meta_kubernetes_pod_container_port_name]
        regex: {{ $target.port | quote }}
        action: keep
      - source_labels: [__meta_kubernetes_pod_phase]
        regex: Running
        action: keep
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
    {{- end }}
{{- end }}
{{- end }}
{{- with $v.scrape.argoRollouts }}
{{- if .enabled }}
  - job_name: argo-rollouts
    metrics_path: {{ .path }}
    # The controller labels each Rollout's and AnalysisRun's series with that object's own namespace and name:
    # they win over the target's namespace label (which would rename them to exported_namespace).
    honor_labels: true
    {{- if eq $v.prometheus.discovery "dns" }}
    dns_sd_configs:
      - type: A
        port: {{ .servicePort }}
        refresh_interval: {{ $v.scrape.interval }}
        names:
          - {{ printf "%s.%s.svc.%s" .service .namespace $v.scrape.clusterDomain }}
    relabel_configs:
      # The controller's namespace, on its own series (process, workqueues), which name none.
      - source_labels: [__meta_dns_name]
        regex: '[^.]+\.([^.]+)\..*'
        target_label: namespace
    {{- else }}
    kubernetes_sd_configs:
      - role: pod
        namespaces:
          names: [{{ .namespace | quote }}]
    relabel_configs:
      {{- range $key, $value := .podLabels }}
      - source_labels: [{{ printf "__meta_kubernetes_pod_label_%s" (regexReplaceAll "[^a-zA-Z0-9_]" $key "_") }}]
        regex: {{ $value | quote }}
        action: keep
      {{- end }}
      - source_labels: [__meta_kubernetes_pod_container_port_name]
        regex: {{ .port | quote }}
        action: keep
      - source_labels: [__meta_kubernetes_pod_phase]
        regex: Running
        action: keep
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
    {{- end }}
{{- end }}
{{- end }}
{{- if $v.pushgateway.enabled }}
  - job_name: pushgateway
    honor_labels: true
    static_configs:
      - targets: ["{{ include "monitoring.fullname" . }}-pushgateway:{{ $v.pushgateway.port }}"]
{{- end }}
{{- end }}

{{- /*
A generated rule or dashboard file with its placeholders filled in from .Values: `@@slo.availability@@` is that
value as Helm prints it, `@@<path>|le@@` a bucket boundary as the `le` label value the Python client writes (a
whole number keeps its ".0"). Not tpl: the alerts' annotations are Prometheus templates ({{ $labels.model }}).
dashboards-src/mlkube_monitoring/placeholders.py renders the same way for the tests.
Call with (dict "root" $ "path" "files/rules/recording.yaml").
*/}}
{{- define "monitoring.renderFile" -}}
{{- $text := .root.Files.Get .path }}
{{- range $placeholder := regexFindAll "@@[^@]+@@" $text -1 | uniq }}
{{- $parts := $placeholder | trimPrefix "@@" | trimSuffix "@@" | splitList "|" }}
{{- $path := first $parts }}
{{- $value := $.root.Values }}
{{- range $key := splitList "." $path }}
{{- if not (and (kindIs "map" $value) (hasKey $value $key)) }}
{{- fail (printf "%s: no value %s for its placeholder %s" $.path $path $placeholder) }}
{{- end }}
{{- $value = index $value $key }}
{{- end }}
{{- $string := toString $value }}
{{- if eq (rest $parts | join "|") "le" }}
{{- if regexMatch "^[0-9]+$" $string }}
{{- $string = printf "%s.0" $string }}
{{- end }}
{{- else if rest $parts }}
{{- fail (printf "%s: unknown placeholder form %s" $.path $placeholder) }}
{{- end }}
{{- $text = replace $placeholder $string $text }}
{{- end }}
{{- $text }}
{{- end }}

{{/* Every dashboard as rendered, for the checksum that restarts Grafana when one changes. */}}
{{- define "monitoring.renderedDashboards" -}}
{{- range $path, $_ := .Files.Glob "files/dashboards/*.json" }}
{{ include "monitoring.renderFile" (dict "root" $ "path" $path) }}
{{- end }}
{{- end }}

{{/* An image of this chart: `<repository>:<tag>`, under global.imageRegistry when it is set (where `make images-push`
puts the images). Call with (dict "root" $ "image" <an image value> "tag" <optional, replaces the image's tag>). */}}
{{- define "monitoring.imageRef" -}}
{{- $registry := "" }}
{{- with .root.Values.global }}{{ $registry = get . "imageRegistry" }}{{ end }}
{{- $ref := printf "%s:%s" .image.repository (get . "tag" | default .image.tag | toString) }}
{{- if $registry }}{{ printf "%s/%s" $registry $ref }}{{ else }}{{ $ref }}{{ end }}
{{- end }}
