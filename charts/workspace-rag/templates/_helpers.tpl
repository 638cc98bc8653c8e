{{/*
Names. modelsync names the release after the RAGEngine, so objects carry the release name
as is (KAITO names the RAG Service after the RAGEngine too).
*/}}
{{- define "workspace-rag.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "workspace-rag.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "workspace-rag.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "workspace-rag.selectorLabels" -}}
app.kubernetes.io/name: {{ include "workspace-rag.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "workspace-rag.labels" -}}
helm.sh/chart: {{ include "workspace-rag.chart" . }}
{{ include "workspace-rag.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: rag
app.kubernetes.io/part-of: modelsync
app.kubernetes.io/managed-by: {{ .Release.Service }}
modelsync.dev/ragengine: {{ default .Release.Name .Values.ragEngine.name | quote }}
modelsync.dev/cluster: {{ .Values.ragEngine.cluster | quote }}
{{- end }}

{{/* repository:tag; a tag of "tag@sha256:..." pins a digest, "@sha256:..." alone too. */}}
{{- define "workspace-rag.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if hasPrefix "@" $tag }}
{{- printf "%s%s" .Values.image.repository $tag }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "workspace-rag.claimName" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-index" (include "workspace-rag.fullname" .)) }}
{{- end }}
