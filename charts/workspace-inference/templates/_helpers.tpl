{{/*
Names. modelsync names the release after the Workspace, so objects carry the release name
as is (KAITO names the Service after the Workspace too).
*/}}
{{- define "workspace-inference.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "workspace-inference.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "workspace-inference.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "workspace-inference.selectorLabels" -}}
app.kubernetes.io/name: {{ include "workspace-inference.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "workspace-inference.labels" -}}
helm.sh/chart: {{ include "workspace-inference.chart" . }}
{{ include "workspace-inference.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: inference
app.kubernetes.io/part-of: modelsync
app.kubernetes.io/managed-by: {{ .Release.Service }}
modelsync.dev/workspace: {{ default .Release.Name .Values.workspace.name | quote }}
modelsync.dev/cluster: {{ .Values.workspace.cluster | quote }}
{{- end }}

{{/* repository:tag; a tag of "tag@sha256:..." pins a digest, "@sha256:..." alone too. */}}
{{- define "workspace-inference.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if hasPrefix "@" $tag }}
{{- printf "%s%s" .Values.image.repository $tag }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "workspace-inference.servedModelName" -}}
{{- .Values.model.servedModelName | default .Values.model.preset | default .Values.model.huggingFaceId }}
{{- end }}

{{/* Whole GiB of weights, rounded up; 0 when the size is unknown. */}}
{{- define "workspace-inference.weightGiB" -}}
{{- int (ceil (divf .Values.model.weightBytes 1073741824)) }}
{{- end }}

{{/*
Startup probe failureThreshold: baseSeconds + secondsPerGiB x GiB of weights, in periods.
Defaults: 10 min + 1 min per 2 GiB (phi-3.5-mini, 7.1 GiB: 14 min; a 70B model, 131 GiB: 76 min).
*/}}
{{- define "workspace-inference.startupFailureThreshold" -}}
{{- $s := .Values.probes.startup }}
{{- $seconds := addf $s.baseSeconds (mulf $s.secondsPerGiB (include "workspace-inference.weightGiB" . | float64)) }}
{{- max 1 (int (ceil (divf $seconds $s.periodSeconds))) }}
{{- end }}

{{/* /dev/shm: NCCL between tensor-parallel workers needs room; one process needs little. */}}
{{- define "workspace-inference.shmSize" -}}
{{- if .Values.shm.sizeLimit }}
{{- .Values.shm.sizeLimit }}
{{- else if gt (int .Values.vllm.tensorParallelSize) 1 }}
{{- printf "%dGi" (mul 8 (int .Values.vllm.tensorParallelSize)) }}
{{- else }}
{{- "1Gi" }}
{{- end }}
{{- end }}

{{/* Model cache size: explicit, else weights x 1.2 rounded up to GiB; "" when unknown. */}}
{{- define "workspace-inference.cacheSize" -}}
{{- if .Values.modelCache.size }}
{{- .Values.modelCache.size }}
{{- else if gt (float64 .Values.model.weightBytes) 0.0 }}
{{- printf "%dGi" (int (ceil (divf (mulf .Values.model.weightBytes 1.2) 1073741824))) }}
{{- end }}
{{- end }}

{{- define "workspace-inference.cacheClaimName" -}}
{{- .Values.modelCache.existingClaim | default (printf "%s-model-cache" (include "workspace-inference.fullname" .)) }}
{{- end }}

{{/* Container-safe adapter names: index first so truncation never collides. */}}
{{- define "workspace-inference.adapterContainerName" -}}
{{- printf "adapter-%d-%s" .index .name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Tolerations: the GPU taint, one per pool taint, then the Workspace's; duplicates dropped. */}}
{{- define "workspace-inference.tolerations" -}}
{{- $out := list }}
{{- if gt (int .Values.resources.gpus) 0 }}
{{- $out = append $out (dict "key" "nvidia.com/gpu" "operator" "Exists" "effect" "NoSchedule") }}
{{- end }}
{{- range .Values.pool.taints }}
{{- if .value }}
{{- $out = append $out (dict "key" .key "operator" "Equal" "value" .value "effect" .effect) }}
{{- else }}
{{- $out = append $out (dict "key" .key "operator" "Exists" "effect" .effect) }}
{{- end }}
{{- end }}
{{- range .Values.tolerations }}
{{- $out = append $out . }}
{{- end }}
{{- if $out }}
{{- toYaml (uniq $out) }}
{{- end }}
{{- end }}

{{/* nodeSelector: the pool's labels, overridden key by key by the Workspace's. */}}
{{- define "workspace-inference.nodeSelector" -}}
{{- $sel := merge (deepCopy .Values.nodeSelector) .Values.pool.labels }}
{{- if $sel }}
{{- toYaml $sel }}
{{- end }}
{{- end }}

{{/* The launcher config (docs/contracts.md section 3). */}}
{{- define "workspace-inference.launcherConfig" -}}
{{- $v := .Values.vllm }}
{{- $extraArgs := $v.extraArgs }}
{{- $nodes := int .Values.multiNode.nodes }}
{{- if gt $nodes 1 }}
{{- /* One pipeline stage per node of the group, placed by Ray (see leaderworkerset.yaml). */}}
{{- $extraArgs = concat (list (printf "--pipeline-parallel-size=%d" $nodes) "--distributed-executor-backend=ray") $v.extraArgs }}
{{- end }}
{{- $cfg := dict
  "apiVersion" "modelsync.dev/v1alpha1"
  "kind" "InferenceConfig"
  "model" .Values.model.huggingFaceId
  "servedModelName" (include "workspace-inference.servedModelName" .)
  "host" "0.0.0.0"
  "port" (int $v.port)
  "tensorParallelSize" (int $v.tensorParallelSize)
  "maxModelLen" (int $v.maxModelLen)
  "gpuMemoryUtilization" $v.gpuMemoryUtilization
  "dtype" $v.dtype
  "maxNumSeqs" (int $v.maxNumSeqs)
  "chatTemplate" $v.chatTemplate
  "adaptersDir" "/mnt/adapters"
  "extraArgs" $extraArgs
  "overrideConfig" (ternary "/etc/modelsync/override/inference_config.yaml" "" (ne $v.configMap ""))
  "shutdownTimeout" (max 0 (sub (int .Values.terminationGracePeriodSeconds) 10))
}}
{{- if .Values.model.revision }}
{{- $_ := set $cfg "revision" .Values.model.revision }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/* Container resources: CPU and memory from values, nvidia.com/gpu requests = limits. */}}
{{- define "workspace-inference.resources" -}}
{{- $gpus := int .Values.resources.gpus }}
{{- $requests := deepCopy (default dict .Values.resources.requests) }}
{{- $limits := deepCopy (default dict .Values.resources.limits) }}
{{- if gt $gpus 0 }}
{{- $_ := set $requests "nvidia.com/gpu" $gpus }}
{{- $_ := set $limits "nvidia.com/gpu" $gpus }}
{{- end }}
{{- $out := dict }}
{{- if $requests }}{{ $_ := set $out "requests" $requests }}{{ end }}
{{- if $limits }}{{ $_ := set $out "limits" $limits }}{{ end }}
{{- toYaml $out }}
{{- end }}

{{/* "true" when any adapter comes from a volume, "" otherwise. */}}
{{- define "workspace-inference.hasVolumeAdapters" -}}
{{- range .Values.adapters }}{{ if not .image }}true{{ end }}{{ end }}
{{- end }}
