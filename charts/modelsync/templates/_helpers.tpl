{{- define "modelsync.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "modelsync.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "modelsync.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "modelsync.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modelsync.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "modelsync.labels" -}}
helm.sh/chart: {{ include "modelsync.chart" . }}
{{ include "modelsync.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: modelsync
app.kubernetes.io/managed-by: {{ .Release.Service }}
modelsync.dev/cluster: {{ .Values.config.cluster | quote }}
{{- end }}

{{- define "modelsync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "modelsync.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag; a tag of "tag@sha256:..." pins a digest, "@sha256:..." alone too. */}}
{{- define "modelsync.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if hasPrefix "@" $tag }}
{{- printf "%s%s" .Values.image.repository $tag }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* /etc/modelsync/config.yaml (docs/contracts.md section 6). */}}
{{- define "modelsync.config" -}}
{{- $c := .Values.config }}
{{- $repo := dict "url" $c.repo.url "path" $c.repo.path }}
{{- if $c.repo.commit }}
{{- $_ := set $repo "commit" $c.repo.commit }}
{{- else if $c.repo.tag }}
{{- $_ := set $repo "tag" $c.repo.tag }}
{{- else }}
{{- $_ := set $repo "branch" $c.repo.branch }}
{{- end }}
{{- $le := $c.leaderElection }}
{{- $cfg := dict
  "cluster" $c.cluster
  "repo" $repo
  "interval" $c.interval
  "timeout" $c.timeout
  "target" $c.target
  "prune" $c.prune
  "maxPruneRatio" $c.maxPruneRatio
  "drift" $c.drift
  "onUpgradeFailure" $c.onUpgradeFailure
  "leaderElection" (dict
    "enabled" $le.enabled
    "leaseName" (default (include "modelsync.fullname" .) $le.leaseName)
    "leaseDuration" $le.leaseDuration
    "renewDeadline" $le.renewDeadline
    "retryPeriod" $le.retryPeriod)
  "listen" ":8080"
  "webhookListen" ":8081"
  "charts" (dict "repository" $c.charts.repository "version" $c.charts.version)
  "policy" $c.policy
  "logFormat" $c.logFormat
  "notifications" ($c.notifications | default dict)
}}
{{- toYaml $cfg }}
{{- end }}
