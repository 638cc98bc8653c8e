{{/*
Names. modelsync names the release after the Workspace; the Job adds a hash of the values
(see job.yaml) because a Job's pod template cannot change once created.
*/}}
{{- define "workspace-tuning.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "workspace-tuning.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 54 | trimSuffix "-" }}
{{- end }}

{{- define "workspace-tuning.jobName" -}}
{{- printf "%s-%s" (include "workspace-tuning.fullname" .) (toJson .Values | sha256sum | trunc 8) }}
{{- end }}

{{- define "workspace-tuning.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "workspace-tuning.selectorLabels" -}}
app.kubernetes.io/name: {{ include "workspace-tuning.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "workspace-tuning.labels" -}}
helm.sh/chart: {{ include "workspace-tuning.chart" . }}
{{ include "workspace-tuning.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: tuning
app.kubernetes.io/part-of: modelsync
app.kubernetes.io/managed-by: {{ .Release.Service }}
modelsync.dev/workspace: {{ default .Release.Name .Values.workspace.name | quote }}
modelsync.dev/cluster: {{ .Values.workspace.cluster | quote }}
{{- end }}

{{/* repository:tag; a tag of "tag@sha256:..." pins a digest, "@sha256:..." alone too. */}}
{{- define "workspace-tuning.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if hasPrefix "@" $tag }}
{{- printf "%s%s" .Values.image.repository $tag }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* /dev/shm: data loader workers and NCCL between GPUs share memory through it. */}}
{{- define "workspace-tuning.shmSize" -}}
{{- if .Values.shm.sizeLimit }}
{{- .Values.shm.sizeLimit }}
{{- else if gt (int .Values.resources.gpus) 1 }}
{{- printf "%dGi" (mul 8 (int .Values.resources.gpus)) }}
{{- else }}
{{- "1Gi" }}
{{- end }}
{{- end }}

{{/* Base model cache size: explicit, else weights x 1.2 rounded up to GiB; "" when unknown. */}}
{{- define "workspace-tuning.cacheSize" -}}
{{- if .Values.modelCache.size }}
{{- .Values.modelCache.size }}
{{- else if gt (float64 .Values.model.weightBytes) 0.0 }}
{{- printf "%dGi" (int (ceil (divf (mulf .Values.model.weightBytes 1.2) 1073741824))) }}
{{- end }}
{{- end }}

{{/* Tolerations: the GPU taint, one per pool taint, then the Workspace's; duplicates dropped. */}}
{{- define "workspace-tuning.tolerations" -}}
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
{{- define "workspace-tuning.nodeSelector" -}}
{{- $sel := merge (deepCopy .Values.nodeSelector) .Values.pool.labels }}
{{- if $sel }}
{{- toYaml $sel }}
{{- end }}
{{- end }}

{{/* Trainer resources: CPU and memory from values, nvidia.com/gpu requests = limits. */}}
{{- define "workspace-tuning.resources" -}}
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

{{/*
training_config.yaml in KAITO's format. QuantizationConfig belongs to QLoRA only (KAITO's
4-bit default when none is given); a pinned model revision reaches from_pretrained through
ModelConfig. Chart defaults are empty sections so they never re-add a key the controller
removed (a null in the Workspace's config removes a preset default).
*/}}
{{- define "workspace-tuning.trainingConfig" -}}
{{- $tc := deepCopy .Values.trainingConfig }}
{{- if ne .Values.method "qlora" }}
{{- $_ := unset $tc "QuantizationConfig" }}
{{- else if not $tc.QuantizationConfig }}
{{- $_ := set $tc "QuantizationConfig" (dict "load_in_4bit" true "bnb_4bit_quant_type" "nf4" "bnb_4bit_compute_dtype" "bfloat16" "bnb_4bit_use_double_quant" true) }}
{{- end }}
{{- if .Values.model.revision }}
{{- $mc := default dict $tc.ModelConfig }}
{{- if not (hasKey $mc "revision") }}
{{- $_ := set $mc "revision" .Values.model.revision }}
{{- end }}
{{- $_ := set $tc "ModelConfig" $mc }}
{{- end }}
{{- toYaml (dict "training_config" $tc) }}
{{- end }}

{{/* Environment shared by the trainer: caches on writable volumes, the HF token by reference. */}}
{{- define "workspace-tuning.trainerEnv" -}}
- name: HF_HOME
  value: /mnt/models
# Dataset caches live beside the other caches, so the model cache's size limit only has to
# hold the weights.
- name: HF_DATASETS_CACHE
  value: /home/modelsync/.cache/huggingface/datasets
{{- with .Values.model.accessSecret }}
- name: HF_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: HF_TOKEN
{{- end }}
# The root filesystem is read-only: Python, Triton, TorchInductor and CUDA caches go to the
# writable home volume, temporary files to /tmp.
- name: HOME
  value: /home/modelsync
- name: XDG_CACHE_HOME
  value: /home/modelsync/.cache
- name: TRITON_CACHE_DIR
  value: /home/modelsync/.cache/triton
- name: TORCHINDUCTOR_CACHE_DIR
  value: /home/modelsync/.cache/torchinductor
- name: CUDA_CACHE_PATH
  value: /home/modelsync/.cache/nv
- name: TMPDIR
  value: /tmp
# Less fragmentation, lower peak GPU memory (as KAITO sets for its tuning jobs).
- name: PYTORCH_CUDA_ALLOC_CONF
  value: expandable_segments:True
- name: HF_HUB_DISABLE_TELEMETRY
  value: "1"
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The trainer container (docs/contracts.md section 4): the main container when the adapter
stays on an output volume, the last init container when it is pushed with oras.
*/}}
{{- define "workspace-tuning.trainer" -}}
- name: trainer
  image: {{ include "workspace-tuning.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command: ["modelsync-train"]
  args:
    - --config
    - /etc/modelsync/training/training_config.yaml
    {{- if .Values.trainingConfigMap }}
    - --config
    - /etc/modelsync/training-override/training_config.yaml
    {{- end }}
    - --model
    - {{ .Values.model.huggingFaceId | quote }}
    - --data-dir
    - /mnt/data
    - --output-dir
    - /mnt/output
  env:
    {{- include "workspace-tuning.trainerEnv" . | nindent 4 }}
  resources:
    {{- include "workspace-tuning.resources" . | nindent 4 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  volumeMounts:
    - name: training-config
      mountPath: /etc/modelsync/training
      readOnly: true
    {{- if .Values.trainingConfigMap }}
    - name: training-override
      mountPath: /etc/modelsync/training-override
      readOnly: true
    {{- end }}
    - name: data
      mountPath: /mnt/data
      readOnly: {{ not (empty .Values.input.volumeSource) }}
    - name: output
      mountPath: /mnt/output
    - name: model-cache
      mountPath: /mnt/models
    - name: dshm
      mountPath: /dev/shm
    - name: tmp
      mountPath: /tmp
    - name: home
      mountPath: /home/modelsync
{{- end }}
