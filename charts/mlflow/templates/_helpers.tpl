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

{{- define "mlflow.authSecretName" -}}
{{- default (printf "%s-auth" (include "mlflow.fullname" .)) .Values.auth.existingSecret }}
{{- end }}

{{/* MLFLOW_BACKEND_STORE_URI (and what it is built from), for the server and the users' init container. */}}
{{- define "mlflow.backendEnv" -}}
{{- $v := .Values }}
{{- $postgres := eq $v.backend "postgres" }}
{{- if and $postgres (eq $v.postgres.mode "internal") }}
- name: POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ default (include "mlflow.postgresName" .) $v.postgres.internal.existingSecret }}
      key: password
- name: MLFLOW_BACKEND_STORE_URI
  value: {{ printf "postgresql://%s:$(POSTGRES_PASSWORD)@%s:5432/%s" $v.postgres.internal.user (include "mlflow.postgresName" .) $v.postgres.internal.database | quote }}
{{- else if $postgres }}
- name: MLFLOW_BACKEND_STORE_URI
  valueFrom:
    secretKeyRef:
      name: {{ $v.postgres.external.existingSecret }}
      key: {{ $v.postgres.external.uriKey }}
{{- else }}
- name: MLFLOW_BACKEND_STORE_URI
  value: sqlite:////mlflow/mlflow.db
{{- end }}
{{- end }}

{{/* The basic-auth app's settings: where its ini is written (by the users' init container) and its secrets. */}}
{{- define "mlflow.authConfigPath" -}}/tmp/mlflow-auth/basic_auth.ini{{- end }}

{{- define "mlflow.authSecretEnv" -}}
{{- $secret := include "mlflow.authSecretName" .root }}
{{- range $role := .roles }}
- name: {{ printf "MLKUBE_AUTH_%s_USERNAME" (upper $role) }}
  valueFrom: {secretKeyRef: {name: {{ $secret }}, key: {{ $role }}-username}}
- name: {{ printf "MLKUBE_AUTH_%s_PASSWORD" (upper $role) }}
  valueFrom: {secretKeyRef: {name: {{ $secret }}, key: {{ $role }}-password}}
{{- end }}
{{- end }}

{{/* An image of this chart: `<repository>:<tag>`, under global.imageRegistry when it is set (where `make images-push`
puts the images). Call with (dict "root" $ "image" <an image value> "tag" <optional, replaces the image's tag>). */}}
{{- define "mlflow.imageRef" -}}
{{- $registry := "" }}
{{- with .root.Values.global }}{{ $registry = get . "imageRegistry" }}{{ end }}
{{- $ref := printf "%s:%s" .image.repository (get . "tag" | default .image.tag | toString) }}
{{- if $registry }}{{ printf "%s/%s" $registry $ref }}{{ else }}{{ $ref }}{{ end }}
{{- end }}
