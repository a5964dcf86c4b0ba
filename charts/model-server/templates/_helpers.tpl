{{/* Name of the chart, overridable. */}}
{{- define "model-server.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-model-server unless the release name already contains it. Kept short enough for the -canary/-preview suffixes. */}}
{{/* The rollout trigger's Service (and Deployment) name, and its in-cluster URL, for the template, the webhook it
registers and the AnalysisTemplates that ask it about Prometheus. */}}
{{- define "model-server.triggerName" -}}
{{- printf "%s-rollout-trigger" (include "model-server.fullname" .) }}
{{- end }}

{{- define "model-server.triggerUrl" -}}
{{- printf "http://%s.%s.svc:%v" (include "model-server.triggerName" .) .Release.Namespace .Values.rolloutTrigger.port }}
{{- end }}

{{- define "model-server.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 48 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 48 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 48 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "model-server.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "model-server.labels" -}}
helm.sh/chart: {{ include "model-server.chart" . }}
{{ include "model-server.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mlkube
mlkube.io/model: {{ .Values.model.name | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels that select every server pod of the release, whatever its variant. */}}
{{- define "model-server.selectorLabels" -}}
{{ include "model-server.instanceLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{/* The release's name labels, also on helper pods (tests, scale-down) that no Service selects. */}}
{{- define "model-server.instanceLabels" -}}
app.kubernetes.io/name: {{ include "model-server.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "model-server.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "model-server.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* MLflow tracking URL, shared by every chart of the release through global.mlflow.url. */}}
{{- define "model-server.mlflowUrl" -}}
{{- $global := default dict .Values.global }}
{{- $mlflow := default dict $global.mlflow }}
{{- default (printf "http://%s-mlflow:5000" .Release.Name) $mlflow.url }}
{{- end }}

{{/* MLFLOW_TRACKING_USERNAME / _PASSWORD of one MLflow role (.role) from global.mlflow.credentialsSecret (default
<release>-mlflow-auth, the mlflow chart's). Optional: without that Secret (an MLflow without authentication) the
pod runs without credentials, and MLflow's 401 says so in its log. */}}
{{- define "model-server.signingSecret" -}}
{{- $global := default dict .Values.global }}
{{- $mlflow := default dict $global.mlflow }}
{{- default (printf "%s-mlflow-signing" .Release.Name) $mlflow.signingSecret }}
{{- end }}

{{- define "model-server.mlflowCredentials" -}}
{{- $global := default dict .root.Values.global }}
{{- $mlflow := default dict $global.mlflow }}
{{- $secret := default (printf "%s-mlflow-auth" .root.Release.Name) $mlflow.credentialsSecret }}
- name: MLFLOW_TRACKING_USERNAME
  valueFrom: {secretKeyRef: {name: {{ $secret }}, key: {{ .role }}-username, optional: true}}
- name: MLFLOW_TRACKING_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ $secret }}, key: {{ .role }}-password, optional: true}}
{{- end }}

{{/*
The Deployments this release runs, one per variant, as a YAML list: name (variant label), deployment
(resource name), track (the mlkube.io/track label its selector and the Services use), replicas, tag,
version, models, primary (HPA target).
Every strategy keeps its first Deployment under the name <full> on the track "primary" (rolling's only
one, canary's stable, blue-green's blue): changing strategy updates that Deployment in place, a rolling
update behind a Service that keeps selecting it, instead of deleting it before its successor is Ready.
*/}}
{{- define "model-server.variants" -}}
{{- $v := .Values }}
{{- $full := include "model-server.fullname" . }}
variants:
{{- if include "model-server.progressive" . }}
{{- /* One Rollout: Argo Rollouts makes the canary (preview) from the same template; pods are told apart by
their pod template hash (label `revision` of the metrics), not by a variant. */}}
  - name: rollout
    deployment: {{ $full }}
    track: primary
    replicas: {{ $v.replicaCount }}
    tag: {{ $v.image.tag | quote }}
    version: {{ $v.model.version | quote }}
    models: {{ $v.server.models | toJson }}
    primary: true
{{- else if eq $v.strategy "blueGreen" }}
{{- range $colour := list "blue" "green" }}
{{- $c := index $v.blueGreen $colour }}
{{- $active := eq $v.blueGreen.active $colour }}
  - name: {{ $colour }}
    deployment: {{ ternary $full (printf "%s-%s" $full $colour) (eq $colour "blue") }}
    track: {{ ternary "primary" $colour (eq $colour "blue") }}
    replicas: {{ ternary $v.replicaCount (ternary $v.replicaCount $v.blueGreen.inactiveReplicas (kindIs "invalid" $v.blueGreen.inactiveReplicas)) $active }}
    tag: {{ default $v.image.tag $c.image.tag | quote }}
    version: {{ default $v.model.version $c.model.version | quote }}
    models: {{ default $v.server.models $c.models | toJson }}
    primary: {{ $active }}
{{- end }}
{{- else }}
  - name: stable
    deployment: {{ $full }}
    track: primary
    replicas: {{ $v.replicaCount }}
    tag: {{ $v.image.tag | quote }}
    version: {{ $v.model.version | quote }}
    models: {{ $v.server.models | toJson }}
    primary: true
{{- if eq $v.strategy "canary" }}
  - name: canary
    deployment: {{ printf "%s-canary" $full }}
    track: canary
    replicas: {{ $v.canary.replicas }}
    tag: {{ default $v.image.tag $v.canary.image.tag | quote }}
    version: {{ default $v.model.version $v.canary.model.version | quote }}
    models: {{ default $v.server.models $v.canary.models | toJson }}
    primary: false
{{- end }}
{{- end }}
{{- end }}

{{/* "true" (a non-empty string) when Argo Rollouts drives the release: strategy progressiveCanary or progressiveBlueGreen. */}}
{{- define "model-server.progressive" -}}
{{- if and (eq .Values.backend "deployment") (hasPrefix "progressive" .Values.strategy) }}true{{ end }}
{{- end }}

{{/*
"true" when the server settings live in the pod template's env rather than in a ConfigMap: under a Rollout (Argo
starts a rollout on a template change only, never on a ConfigMap's) and in KServe's Knative mode, where each
revision must keep its own settings (with one shared ConfigMap, the previous revision's pods would load the
canary's models whenever they restart or scale out).
*/}}
{{- define "model-server.inlineSettings" -}}
{{- if or (include "model-server.progressive" .) (and (eq .Values.backend "kserve") (eq .Values.kserve.deploymentMode "Knative")) }}true{{ end }}
{{- end }}

{{/*
The live replica count of the Deployment <full> while a progressive Rollout takes over from it, else "".
Holds when the strategy is progressive, that Deployment still runs pods and the Rollout is absent or at its first
revision. Argo's documented migration: the Rollout references the Deployment (workloadRef, scaleDown onsuccess)
and scales it to zero once its own pods are Healthy, so the Deployment's pods serve until then; the next render
(Deployment at zero) puts the template back in the Rollout, which Argo matches to the running ReplicaSet.
*/}}
{{- define "model-server.migrating" -}}
{{- if include "model-server.progressive" . }}
{{- $full := include "model-server.fullname" . }}
{{- $deployment := lookup "apps/v1" "Deployment" .Release.Namespace $full | default dict }}
{{- $replicas := int (dig "spec" "replicas" 0 $deployment) }}
{{- if gt $replicas 0 }}
{{- $rollout := lookup "argoproj.io/v1alpha1" "Rollout" .Release.Namespace $full | default dict }}
{{- if or (not $rollout) (eq (dig "metadata" "annotations" "rollout.argoproj.io/revision" "" $rollout) "1") }}
{{- $replicas }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* The workload an autoscaler (HPA or KEDA ScaledObject) scales for the variant .variant: the Rollout when Argo
Rollouts drives the release, else the variant's Deployment. */}}
{{- define "model-server.scaleTarget" -}}
{{- if include "model-server.progressive" .root }}
apiVersion: argoproj.io/v1alpha1
kind: Rollout
{{- else }}
apiVersion: apps/v1
kind: Deployment
{{- end }}
name: {{ .variant.deployment }}
{{- end }}

{{/* The Service the candidate answers on: Argo's canaryService (canary) or previewService (blue-green). */}}
{{- define "model-server.candidateService" -}}
{{- printf "%s-%s" (include "model-server.fullname" .) (ternary "canary" "preview" (eq .Values.strategy "progressiveCanary")) }}
{{- end }}

{{/* Prometheus the analysis queries: the monitoring chart's in the same release unless set. */}}
{{- define "model-server.prometheusAddress" -}}
{{- default (printf "http://%s-monitoring-prometheus.%s:9090" .Release.Name .Release.Namespace) .Values.progressive.prometheus.address }}
{{- end }}

{{/* Egress rules of the pods this chart runs (networkPolicy.egress): DNS, MLflow, the Kubernetes API server. */}}
{{- define "model-server.dnsEgress" -}}
{{- with .Values.networkPolicy.egress.dns }}
- to:
    {{- toYaml . | nindent 4 }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end }}
{{- end }}

{{- define "model-server.mlflowEgress" -}}
- to:
    {{- toYaml .Values.networkPolicy.egress.mlflow | nindent 4 }}
  ports:
    - port: {{ .Values.networkPolicy.egress.mlflowPort }}
      protocol: TCP
{{- end }}

{{/* The API server's endpoints when given (global.networkPolicy.apiServer), any address otherwise, on its ports only. */}}
{{- define "model-server.apiServerEgress" -}}
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

{{/* The track (mlkube.io/track) of a blue-green colour. */}}
{{- define "model-server.colourTrack" -}}
{{- ternary "primary" . (eq . "blue") }}
{{- end }}

{{/* Image reference of one variant. */}}
{{- define "model-server.image" -}}
{{- include "model-server.imageRef" (dict "root" .root "image" .root.Values.image "tag" .variant.tag) }}
{{- end }}

{{/* Server settings of one variant (the variant's ConfigMap data). */}}
{{- define "model-server.config" -}}
MLKUBE_SERVER_MODELS: {{ .variant.models | toJson | quote }}
MLKUBE_SERVER_DEFAULT_MODEL: {{ .root.Values.server.defaultModel | quote }}
MLKUBE_SERVER_PORT: {{ .root.Values.server.port | quote }}
MLKUBE_SERVER_METRICS_PORT: {{ .root.Values.server.metricsPort | quote }}
{{- /* Finish in-flight requests within the grace period left after the preStop pause. */}}
MLKUBE_SERVER_GRACEFUL_TIMEOUT_SECONDS: {{ max 1 (sub (sub .root.Values.terminationGracePeriodSeconds .root.Values.preStopSleepSeconds) 5) | quote }}
{{- with .root.Values.server.loadShedding }}
MLKUBE_SERVER_MAX_QUEUED_REQUESTS: {{ .maxQueuedRequests | toString | quote }}
MLKUBE_SERVER_MAX_CONCURRENT_REQUESTS: {{ .maxConcurrentRequests | toString | quote }}
MLKUBE_SERVER_SHED_RETRY_AFTER_SECONDS: {{ .retryAfterSeconds | toString | quote }}
{{- end }}
{{- range $key, $value := .root.Values.server.extraEnv }}
{{ $key }}: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/* Restricted Pod Security: pod level. */}}
{{- define "model-server.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Restricted Pod Security: container level. */}}
{{- define "model-server.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The server container of one variant (shared by Deployments and the InferenceService). */}}
{{- define "model-server.container" -}}
{{- $v := .root.Values }}
name: {{ .containerName | default "server" }}
image: {{ include "model-server.image" . }}
imagePullPolicy: {{ $v.image.pullPolicy }}
ports:
  - name: {{ .portName | default "http" }}
    containerPort: {{ $v.server.port }}
    protocol: TCP
  {{- if ne $v.backend "kserve" }}
  {{- /* Knative admits one container port; Prometheus finds KServe's pods by their annotations' port number. */}}
  - name: metrics
    containerPort: {{ $v.server.metricsPort }}
    protocol: TCP
  {{- end }}
{{- $progressive := include "model-server.progressive" .root }}
{{- $inline := include "model-server.inlineSettings" .root }}
{{- if not $inline }}
envFrom:
  - configMapRef:
      name: {{ printf "%s-config" .variant.deployment }}
{{- end }}
env:
  {{- if $inline }}
  {{- range $key, $value := include "model-server.config" . | fromYaml }}
  - name: {{ $key }}
    value: {{ $value | toString | quote }}
  {{- end }}
  {{- end }}
  {{- if and $progressive $v.progressive.shadow.enabled }}
  {{- /* Every pod gets them (one template); a copy that comes back to its own revision is not compared. */}}
  - name: MLKUBE_SERVER_SHADOW_URL
    value: {{ printf "http://%s:%v" (include "model-server.candidateService" .root) $v.service.port | quote }}
  - name: MLKUBE_SERVER_SHADOW_FRACTION
    value: {{ $v.progressive.shadow.fraction | toString | quote }}
  {{- end }}
  {{- if $v.server.repositoryApi.enabled }}
  - name: MLKUBE_SERVER_REPOSITORY_API_TOKEN
    valueFrom:
      secretKeyRef:
        name: {{ include "model-server.repositoryApiSecret" .root }}
        key: token
  {{- end }}
  - name: MLKUBE_VARIANT
    value: {{ .variant.name | quote }}
  - name: MLKUBE_REVISION
    valueFrom:
      fieldRef:
        fieldPath: {{ printf "metadata.labels['%s']" (ternary "rollouts-pod-template-hash" "pod-template-hash" (not (empty $progressive))) }}
  - name: MLKUBE_MODEL_VERSION
    value: {{ .variant.version | quote }}
  - name: MLFLOW_TRACKING_URI
    value: {{ include "model-server.mlflowUrl" .root | quote }}
  {{- include "model-server.mlflowCredentials" (dict "root" .root "role" "server") | nindent 2 }}
  {{- if $v.server.requireSignedModels }}
  - name: MLKUBE_SERVER_SIGNING_CERTIFICATE
    valueFrom: {secretKeyRef: {name: {{ include "model-server.signingSecret" .root }}, key: certificate.pem}}
  {{- end }}
  - name: HOME
    value: /tmp
  {{- with $v.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
resources:
  {{- toYaml $v.resources | nindent 2 }}
securityContext:
  {{- include "model-server.containerSecurityContext" . | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end }}

{{/* Arguments every analysis passes: the namespace and the canary's and stable's pod template hashes. */}}
{{- define "model-server.analysisArgs" -}}
- name: namespace
  value: {{ .Release.Namespace | quote }}
- name: canary-hash
  valueFrom:
    podTemplateHashValue: Latest
- name: stable-hash
  valueFrom:
    podTemplateHashValue: Stable
{{- end }}

{{/* Secret with the repository API's bearer token (key `token`). */}}
{{- define "model-server.repositoryApiSecret" -}}
{{- .Values.server.repositoryApi.existingSecret | default (printf "%s-repository-api" (include "model-server.fullname" .)) }}
{{- end }}

{{/* An image of this chart: `<repository>:<tag>`, under global.imageRegistry when it is set (where `make images-push`
puts the images). Call with (dict "root" $ "image" <an image value> "tag" <optional, replaces the image's tag>). */}}
{{- define "model-server.imageRef" -}}
{{- $registry := "" }}
{{- with .root.Values.global }}{{ $registry = get . "imageRegistry" }}{{ end }}
{{- $ref := printf "%s:%s" .image.repository (get . "tag" | default .image.tag | toString) }}
{{- if $registry }}{{ printf "%s/%s" $registry $ref }}{{ else }}{{ $ref }}{{ end }}
{{- end }}
