{{- define "training-job.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-training-job unless the release name already contains it; short enough for "-<job>-<hash>". */}}
{{- define "training-job.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 36 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 36 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 36 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "training-job.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "training-job.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mlkube
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "training-job.selectorLabels" -}}
app.kubernetes.io/name: {{ include "training-job.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "training-job.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "training-job.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "training-job.mlflowUrl" -}}
{{- $global := default dict .Values.global }}
{{- $mlflow := default dict $global.mlflow }}
{{- default (printf "http://%s-mlflow:5000" .Release.Name) $mlflow.url }}
{{- end }}

{{/* MLFLOW_TRACKING_USERNAME / _PASSWORD of one MLflow role (.role) from global.mlflow.credentialsSecret (default
<release>-mlflow-auth, the mlflow chart's). Optional: without that Secret (an MLflow without authentication) the
pod runs without credentials, and MLflow's 401 says so in its log. */}}
{{- define "training-job.signingSecret" -}}
{{- $global := default dict .Values.global }}
{{- $mlflow := default dict $global.mlflow }}
{{- default (printf "%s-mlflow-signing" .Release.Name) $mlflow.signingSecret }}
{{- end }}

{{- define "training-job.mlflowCredentials" -}}
{{- $global := default dict .root.Values.global }}
{{- $mlflow := default dict $global.mlflow }}
{{- $secret := default (printf "%s-mlflow-auth" .root.Release.Name) $mlflow.credentialsSecret }}
- name: MLFLOW_TRACKING_USERNAME
  valueFrom: {secretKeyRef: {name: {{ $secret }}, key: {{ .role }}-username, optional: true}}
- name: MLFLOW_TRACKING_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ $secret }}, key: {{ .role }}-password, optional: true}}
{{- end }}

{{/* Whether one job gets a GPU: the chart-wide switch and the job's own wish. */}}
{{- define "training-job.gpu" -}}
{{- if and .root.Values.gpu.enabled .job.useGpu }}true{{ end }}
{{- end }}

{{/* Labels of one job's pods. */}}
{{- define "training-job.jobLabels" -}}
{{ include "training-job.labels" .root }}
app.kubernetes.io/component: {{ .job.type }}
mlkube.io/job: {{ .name }}
mlkube.io/job-type: {{ .job.type }}
mlkube.io/gpu: {{ include "training-job.gpu" . | default "false" | quote }}
{{- end }}

{{/* The pod template of one job (used by its Job and its CronJob). */}}
{{- define "training-job.podTemplate" -}}
{{- $v := .root.Values }}
{{- $gpu := include "training-job.gpu" . }}
metadata:
  labels:
    {{- include "training-job.jobLabels" . | nindent 4 }}
    mlkube.io/mlflow-client: "true"
    {{- if $v.pushgateway.url }}
    mlkube.io/pushgateway-client: "true"
    {{- end }}
spec:
  restartPolicy: Never
  serviceAccountName: {{ include "training-job.serviceAccountName" .root }}
  automountServiceAccountToken: false
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- if and $gpu $v.gpu.runtimeClassName }}
  runtimeClassName: {{ $v.gpu.runtimeClassName }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
    fsGroup: 10001
    seccompProfile:
      type: RuntimeDefault
  {{- if $v.waitForMlflow.timeoutSeconds }}
  initContainers:
    # A fresh install starts MLflow and its Jobs together: wait for MLflow here instead of spending
    # the Job's backoffLimit on the trainer's "unreachable" exit code.
    - name: wait-for-mlflow
      image: {{ include "training-job.imageRef" (dict "root" $.root "image" $v.image) }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      command: ["python3", "-c"]
      args:
        - |
          import sys, time, urllib.request
          url, deadline = "{{ include "training-job.mlflowUrl" .root }}/health", time.monotonic() + {{ $v.waitForMlflow.timeoutSeconds }}
          while True:
              try:
                  urllib.request.urlopen(url, timeout=3).close()
                  print(f"MLflow is up: {url}"); break
              except OSError as exc:
                  if time.monotonic() > deadline:
                      sys.exit(f"MLflow {url} unreachable after {{ $v.waitForMlflow.timeoutSeconds }} s: {exc}")
                  print(f"waiting for MLflow at {url}: {exc}", flush=True); time.sleep(3)
      resources:
        requests: {cpu: 10m, memory: 32Mi}
        limits: {cpu: 100m, memory: 128Mi}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        runAsNonRoot: true
        capabilities:
          drop: ["ALL"]
        seccompProfile:
          type: RuntimeDefault
  {{- end }}
  containers:
    - name: trainer
      image: {{ include "training-job.imageRef" (dict "root" $.root "image" $v.image) }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      command:
        {{- toYaml $v.command | nindent 8 }}
      args:
        {{- toYaml .job.args | nindent 8 }}
      env:
        - name: MLFLOW_TRACKING_URI
          value: {{ include "training-job.mlflowUrl" .root | quote }}
        {{- include "training-job.mlflowCredentials" (dict "root" .root "role" "trainer") | nindent 8 }}
        # The key every registered version is signed with; the model servers load nothing unsigned.
        - name: MLKUBE_TRAIN_SIGNING_KEY
          valueFrom: {secretKeyRef: {name: {{ include "training-job.signingSecret" .root }}, key: private-key.pem, optional: true}}
        {{- with .job.experiment }}
        - name: MLFLOW_EXPERIMENT_NAME
          value: {{ . | quote }}
        {{- end }}
        {{- with $v.pushgateway.url }}
        - name: MLKUBE_PUSHGATEWAY_URL
          value: {{ . | quote }}
        {{- end }}
        - name: MLKUBE_TRAIN_CHAMPION_BY
          value: {{ $v.championBy | quote }}
        - name: JOB_NAME
          value: {{ .name | quote }}
        - name: HOME
          value: /tmp
        - name: MPLCONFIGDIR
          value: /tmp/matplotlib
        {{- with $v.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      resources:
        requests:
          {{- toYaml $v.resources.requests | nindent 10 }}
        limits:
          {{- toYaml $v.resources.limits | nindent 10 }}
          {{- if $gpu }}
          {{ $v.gpu.resourceName }}: {{ $v.gpu.count }}
          {{- end }}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        runAsNonRoot: true
        capabilities:
          drop: ["ALL"]
        seccompProfile:
          type: RuntimeDefault
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        - name: dshm
          mountPath: /dev/shm
        {{- if $v.dataVolume.claimName }}
        - name: data
          mountPath: {{ $v.dataVolume.mountPath }}
        {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: {{ $v.tmpSizeLimit }}
    - name: dshm
      emptyDir:
        medium: Memory
        sizeLimit: {{ $v.shmSizeLimit }}
    {{- if $v.dataVolume.claimName }}
    - name: data
      persistentVolumeClaim:
        claimName: {{ $v.dataVolume.claimName }}
    {{- end }}
  {{- $nodeSelector := $v.nodeSelector }}
  {{- if $gpu }}
  {{- $nodeSelector = merge (deepCopy $v.gpu.nodeSelector) $v.nodeSelector }}
  {{- end }}
  {{- with $nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- $tolerations := $v.tolerations }}
  {{- if $gpu }}
  {{- $tolerations = concat $v.gpu.tolerations $v.tolerations }}
  {{- end }}
  {{- with $tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* The Job spec of one job (used by its Job and its CronJob). */}}
{{- define "training-job.jobSpec" -}}
{{- $v := .root.Values }}
backoffLimit: {{ $v.backoffLimit }}
activeDeadlineSeconds: {{ $v.activeDeadlineSeconds }}
ttlSecondsAfterFinished: {{ $v.ttlSecondsAfterFinished }}
podFailurePolicy:
  rules:
    # A configuration error will fail again: stop at once instead of burning retries.
    - action: FailJob
      onExitCodes:
        containerName: trainer
        operator: In
        values: {{ toJson $v.configErrorExitCodes }}
    # Evictions, preemption and node drains are not the trainer's fault: retry without counting.
    - action: Ignore
      onPodConditions:
        - type: DisruptionTarget
          status: "True"
template:
  {{- include "training-job.podTemplate" . | nindent 2 }}
{{- end }}

{{/* An image of this chart: `<repository>:<tag>`, under global.imageRegistry when it is set (where `make images-push`
puts the images). Call with (dict "root" $ "image" <an image value> "tag" <optional, replaces the image's tag>). */}}
{{- define "training-job.imageRef" -}}
{{- $registry := "" }}
{{- with .root.Values.global }}{{ $registry = get . "imageRegistry" }}{{ end }}
{{- $ref := printf "%s:%s" .image.repository (get . "tag" | default .image.tag | toString) }}
{{- if $registry }}{{ printf "%s/%s" $registry $ref }}{{ else }}{{ $ref }}{{ end }}
{{- end }}
