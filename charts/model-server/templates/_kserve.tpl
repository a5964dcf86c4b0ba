{{- /*
KServe predictors name the chart's ServingRuntime and a model format (predictor.model), never a custom container:
KServe >= 0.20 admits a Standard-mode canary only when the stable predictor has a model. The runtime holds the
server's image and its one port (Knative requires the name http1 and admits one port; the container name
kserve-container is KServe's); each predictor's model holds its own settings (env), resources and security
context, which KServe lays over the runtime's container. The server reads its models from MLflow's registry
itself, so no storageUri (and no storage initializer). Knative's default feature flags reject pod-level
securityContext, priorityClassName and terminationGracePeriodSeconds, so in Knative mode the restricted settings
live on the container only.
*/}}
{{- define "model-server.kserveRuntime" -}}
{{- include "model-server.fullname" . }}
{{- end }}

{{/* The server container of one variant as KServe would merge it: called with (dict "root" $ "variant" ...). */}}
{{- define "model-server.kserveContainer" -}}
{{- include "model-server.container" (dict "root" .root "variant" .variant "containerName" "kserve-container" "portName" "http1") }}
{{- end }}

{{- define "model-server.kservePredictor" -}}
{{- $v := .root.Values }}
{{- $knative := eq $v.kserve.deploymentMode "Knative" }}
{{- if .name }}
name: {{ .name }}
{{- end }}
minReplicas: {{ .minReplicas }}
{{- if not .canary }}
maxReplicas: {{ $v.kserve.maxReplicas }}
{{- end }}
serviceAccountName: {{ include "model-server.serviceAccountName" .root }}
{{- if not $knative }}
{{- with $v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
{{- end }}
labels:
  {{- include "model-server.selectorLabels" .root | nindent 2 }}
  mlkube.io/model: {{ $v.model.name | quote }}
  mlkube.io/variant: {{ .variant.name }}
  mlkube.io/model-version: {{ .variant.version | quote }}
  mlkube.io/mlflow-client: "true"
annotations:
  {{- if not (include "model-server.inlineSettings" .root) }}
  checksum/config: {{ include "model-server.config" . | sha256sum }}
  {{- end }}
  {{- if $v.metrics.annotations }}
  prometheus.io/scrape: "true"
  prometheus.io/port: {{ $v.server.metricsPort | quote }}
  prometheus.io/path: {{ $v.metrics.path | quote }}
  {{- end }}
{{- if not $knative }}
securityContext:
  {{- include "model-server.podSecurityContext" .root | nindent 2 }}
{{- end }}
{{- $container := include "model-server.kserveContainer" . | fromYaml }}
model:
  modelFormat:
    {{- toYaml $v.kserve.modelFormat | nindent 4 }}
  runtime: {{ include "model-server.kserveRuntime" .root }}
  protocolVersion: v2
  {{- if ne (toString .variant.tag) (toString $v.image.tag) }}
  image: {{ $container.image }}
  {{- end }}
  {{- omit $container "name" "image" "imagePullPolicy" "ports" | toYaml | nindent 2 }}
  readinessProbe:
    httpGet: {path: /v2/health/ready, port: {{ $v.server.port }}}
    periodSeconds: {{ $v.probes.readiness.periodSeconds }}
    timeoutSeconds: {{ $v.probes.readiness.timeoutSeconds }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: {{ $v.tmpSizeLimit }}
{{- end }}
