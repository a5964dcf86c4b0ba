{{/* One AnalysisTemplate: .name, .metrics (names in files/analysis-metrics.yaml), .gate (a step's verdict with
count and a success streak; otherwise a background analysis that runs until the rollout ends). */}}
{{- define "model-server.analysisTemplate" -}}
{{- $v := .root.Values }}
{{- $a := $v.progressive.analysis }}
{{- $generated := .root.Files.Get "files/analysis-metrics.yaml" | fromYaml }}
{{- $thresholds := merge (dict "minShadowAgreement" $v.progressive.shadow.minAgreement) $a.thresholds }}
{{- $argNames := list }}
{{- range $name := .metrics }}
{{- $argNames = concat $argNames (index $generated.metrics $name).args }}
{{- end }}
{{- $defaults := dict "window" $a.window "baseline-window" $a.window "p99-floor" ($a.p99FloorSeconds | toString) }}
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: {{ .name }}
  labels:
    {{- include "model-server.labels" .root | nindent 4 }}
spec:
  args:
    {{- range $arg := keys $generated.args | sortAlpha }}
    {{- if has $arg $argNames }}
    - name: {{ $arg }}
      {{- if hasKey $defaults $arg }}
      value: {{ index $defaults $arg | quote }}
      {{- end }}
    {{- end }}
    {{- end }}
  metrics:
    {{- range $name := .metrics }}
    {{- $m := index $generated.metrics $name }}
    {{- $threshold := index $thresholds $m.threshold | toString }}
    {{- $fails := ternary ">" "<" (eq $m.passesWhen "<=") }}
    - name: {{ $name }}
      interval: {{ $a.interval }}
      {{- if $.gate }}
      count: {{ $a.gate.count }}
      consecutiveSuccessLimit: {{ $a.gate.consecutiveSuccesses }}
      {{- end }}
      failureLimit: {{ $a.failureLimit }}
      inconclusiveLimit: {{ $a.inconclusiveLimit }}
      consecutiveErrorLimit: {{ $a.consecutiveErrorLimit }}
      successCondition: {{ printf "len(result) > 0 && result[0] %s %s" $m.passesWhen $threshold | quote }}
      failureCondition: {{ printf "len(result) > 0 && result[0] %s %s" $fails $threshold | quote }}
      provider:
        prometheus:
          address: {{ include "model-server.prometheusAddress" $.root | quote }}
          timeout: {{ $v.progressive.prometheus.timeoutSeconds }}
          query: |
            {{- $m.query | trim | nindent 12 }}
    {{- end }}
    {{- if $v.rolloutTrigger.enabled }}
    {{- /* Whether Prometheus answers, asked of the rollout trigger, which always answers: "no" meets neither
    condition (Inconclusive: the rollout pauses after unreachableLimit of them) where the queries above would
    only err, and errors abort. trigger/prometheus_probe.py says why. */}}
    - name: prometheus-reachable
      interval: {{ $a.interval }}
      {{- if $.gate }}
      count: {{ $a.gate.count }}
      consecutiveSuccessLimit: {{ $a.gate.consecutiveSuccesses }}
      {{- end }}
      failureLimit: {{ $a.failureLimit }}
      inconclusiveLimit: {{ $v.progressive.prometheus.unreachableLimit }}
      consecutiveErrorLimit: {{ $a.consecutiveErrorLimit }}
      successCondition: "result.reachable == true"
      failureCondition: "false"
      provider:
        web:
          url: {{ printf "%s/analysis/prometheus" (include "model-server.triggerUrl" .root) | quote }}
          timeoutSeconds: {{ $v.progressive.prometheus.timeoutSeconds }}
          jsonPath: "{$}"
    {{- end }}
{{- end }}
