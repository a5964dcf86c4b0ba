{{/*
The pod template of one variant: the Deployments' and, with a progressive strategy, the Rollout's.
Under a Rollout, Argo's canaryMetadata/stableMetadata (activeMetadata/previewMetadata) set mlkube.io/variant.
*/}}
{{- define "model-server.podTemplate" -}}
{{- $progressive := include "model-server.progressive" .root -}}
metadata:
  labels:
    {{- include "model-server.labels" $.root | nindent 4 }}
    {{- if not $progressive }}
    mlkube.io/variant: {{ $.variant.name }}
    {{- end }}
    mlkube.io/track: {{ $.variant.track }}
    mlkube.io/model-version: {{ $.variant.version | quote }}
    mlkube.io/mlflow-client: "true"
  annotations:
    {{- if not $progressive }}
    {{- /* A Rollout's settings are in its template's env; a checksum there would go stale whenever the rollout
    trigger points a model at a new version, and the template would never again equal its stable ReplicaSet's. */}}
    checksum/config: {{ include "model-server.config" $ | sha256sum }}
    {{- end }}
    {{- if $.root.Values.metrics.annotations }}
    prometheus.io/scrape: "true"
    prometheus.io/port: {{ $.root.Values.server.metricsPort | quote }}
    prometheus.io/path: {{ $.root.Values.metrics.path | quote }}
    {{- end }}
    {{- with $.root.Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "model-server.serviceAccountName" $.root }}
  automountServiceAccountToken: false
  {{- with $.root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $.root.Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ $.root.Values.terminationGracePeriodSeconds }}
  securityContext:
    {{- include "model-server.podSecurityContext" $.root | nindent 4 }}
  containers:
    - {{ include "model-server.container" $ | trim | nindent 6 | trim }}
      startupProbe:
        httpGet: {path: /v2/health/ready, port: http}
        periodSeconds: {{ $.root.Values.probes.startup.periodSeconds }}
        failureThreshold: {{ $.root.Values.probes.startup.failureThreshold }}
        timeoutSeconds: {{ $.root.Values.probes.startup.timeoutSeconds }}
      readinessProbe:
        httpGet: {path: /v2/health/ready, port: http}
        periodSeconds: {{ $.root.Values.probes.readiness.periodSeconds }}
        failureThreshold: {{ $.root.Values.probes.readiness.failureThreshold }}
        timeoutSeconds: {{ $.root.Values.probes.readiness.timeoutSeconds }}
      livenessProbe:
        httpGet: {path: /v2/health/live, port: http}
        periodSeconds: {{ $.root.Values.probes.liveness.periodSeconds }}
        failureThreshold: {{ $.root.Values.probes.liveness.failureThreshold }}
        timeoutSeconds: {{ $.root.Values.probes.liveness.timeoutSeconds }}
      lifecycle:
        preStop:
          sleep:
            seconds: {{ $.root.Values.preStopSleepSeconds }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: {{ $.root.Values.tmpSizeLimit }}
  {{- if $.root.Values.topologySpread.enabled }}
  topologySpreadConstraints:
    - maxSkew: {{ $.root.Values.topologySpread.maxSkew }}
      topologyKey: {{ $.root.Values.topologySpread.topologyKey }}
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "model-server.selectorLabels" $.root | nindent 10 }}
          {{- if not $progressive }}
          mlkube.io/variant: {{ $.variant.name }}
          {{- end }}
  {{- end }}
  {{- with $.root.Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $.root.Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $.root.Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
