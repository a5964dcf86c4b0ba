{{- define "mlflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-mlflow unless the release name already contains it: the name the other charts derive. */}}
{{- define "mlflow.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mlflow.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "mlflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mlkube
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: call with (dict "root" . "component" "tracking-server"). */}}
{{- define "mlflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mlflow.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "mlflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mlflow.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "mlflow.postgresName" -}}
{{- printf "%s-postgres" (include "mlflow.fullname" .) }}
{{- end }}

{{/* Host headers the server accepts: its Service names, localhost and private addresses (probes, pod IPs). */}}
{{- define "mlflow.allowedHosts" -}}
{{- $full := include "mlflow.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- $port := .Values.service.port }}
{{- $hosts := list }}
{{- range $name := list $full (printf "%s.%s" $full $ns) (printf "%s.%s.svc" $full $ns) (printf "%s.%s.svc.cluster.local" $full $ns) "localhost" "127.0.0.1" }}
{{- $hosts = append $hosts $name }}
{{- $hosts = append $hosts (printf "%s:%v" $name $port) }}
{{- end }}
{{- $hosts = concat $hosts (list "localhost:*" "127.0.0.1:*" "10.*" "172.*" "192.168.*") .Values.server.allowedHosts }}
{{- join "," $hosts }}
{{- end }}

{{- define "mlflow.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .runAsUser }}
runAsGroup: {{ .runAsUser }}
fsGroup: {{ .runAsUser }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "mlflow.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Secret holding the Fernet key MLflow encrypts stored webhook secrets with. */}}
{{- define "mlflow.webhooksSecretName" -}}
{{- default (printf "%s-webhooks" (include "mlflow.fullname" .)) .Values.webhooks.existingSecret }}
{{- end }}
