{{- /*
Knative requires the port name http1 (or h2c); the container name kserve-container is KServe's convention.
Knative's default feature flags reject pod-level securityContext, priorityClassName and
terminationGracePeriodSeconds, so in Knative mode the restricted settings live on the container only.
*/}}
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
containers:
  - {{ include "model-server.container" (dict "root" .root "variant" .variant "containerName" "kserve-container" "portName" "http1") | trim | nindent 4 | trim }}
    readinessProbe:
      httpGet: {path: /v2/health/ready, port: {{ $v.server.port }}}
      periodSeconds: {{ $v.probes.readiness.periodSeconds }}
      timeoutSeconds: {{ $v.probes.readiness.timeoutSeconds }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: {{ $v.tmpSizeLimit }}
{{- end }}
