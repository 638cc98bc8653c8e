{{/*
The inference pod spec, shared by the single-node Deployment and both templates of the
multi-node LeaderWorkerSet. Called with (dict "root" $ "role" ROLE), ROLE one of:
  server  one vLLM server on one node (the Deployment);
  leader  a multi-node group's first pod: starts the Ray head, then vLLM, which places its
          tensor x pipeline-parallel workers on the group's Ray cluster and serves the API;
  worker  the other pods: join the leader's Ray cluster at LWS_LEADER_ADDRESS (set by the
          LeaderWorkerSet controller) and hold their node's GPUs for it.
Every role gets the same restricted security contexts, volumes, pool and tolerations.
*/}}
{{- define "workspace-inference.podSpec" -}}
{{- $root := .root }}
{{- $role := .role }}
{{- with $root }}
{{- $imageAdapters := list }}
{{- range .Values.adapters }}{{ if .image }}{{ $imageAdapters = append $imageAdapters . }}{{ end }}{{ end }}
{{- $fullname := include "workspace-inference.fullname" . }}
{{- $startupThreshold := int (include "workspace-inference.startupFailureThreshold" .) }}
{{- $cacheSize := include "workspace-inference.cacheSize" . -}}
# vLLM reads VLLM_* variables; Service links would inject VLLM_PORT=tcp://... and
# break it whenever a Service named "vllm" shares the namespace.
enableServiceLinks: false
automountServiceAccountToken: false
terminationGracePeriodSeconds: {{ int .Values.terminationGracePeriodSeconds }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.runtimeClassName }}
runtimeClassName: {{ . }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with (include "workspace-inference.nodeSelector" .) }}
nodeSelector:
  {{- . | nindent 2 }}
{{- end }}
{{- with (include "workspace-inference.tolerations" .) }}
tolerations:
  {{- . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $imageAdapters }}
initContainers:
  # Adapter images may have no shell (KAITO builds them FROM scratch): copy a static
  # busybox into a shared volume so each adapter's init container can run `cp`.
  - name: adapter-tools
    image: "{{ .Values.adapterCopier.image.repository }}:{{ .Values.adapterCopier.image.tag }}"
    imagePullPolicy: {{ .Values.adapterCopier.image.pullPolicy }}
    command: ["/bin/busybox", "cp", "/bin/busybox", "/modelsync-tools/busybox"]
    securityContext:
      {{- toYaml .Values.securityContext | nindent 6 }}
    resources:
      requests: {cpu: 10m, memory: 16Mi}
      limits: {memory: 64Mi}
    volumeMounts:
      - name: modelsync-tools
        mountPath: /modelsync-tools
  {{- range $i, $a := .Values.adapters }}
  {{- if $a.image }}
  - name: {{ include "workspace-inference.adapterContainerName" (dict "index" $i "name" $a.name) }}
    image: {{ $a.image | quote }}
    imagePullPolicy: IfNotPresent
    # KAITO adapter image layout: the adapter files live under /data.
    command: ["/modelsync-tools/busybox", "cp", "-R", "/data/.", "/mnt/adapters/{{ $a.name }}/"]
    securityContext:
      {{- toYaml $root.Values.securityContext | nindent 6 }}
    resources:
      requests: {cpu: 100m, memory: 64Mi}
      limits: {memory: 256Mi}
    volumeMounts:
      - name: modelsync-tools
        mountPath: /modelsync-tools
        readOnly: true
      - name: adapters
        mountPath: /mnt/adapters/{{ $a.name }}
        subPath: {{ $a.name }}
  {{- end }}
  {{- end }}
{{- end }}
containers:
  - name: vllm
    image: {{ include "workspace-inference.image" . | quote }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    {{- if eq $role "server" }}
    command: ["modelsync-launch"]
    args: ["--config", "/etc/modelsync/inference.yaml"]
    {{- else if eq $role "leader" }}
    # vLLM's multi-node layout (docs.vllm.ai, distributed serving): a Ray head here, one
    # Ray worker per other node; vLLM then waits for the group's GPUs in Ray and places
    # tensor-parallel ranks within a node and pipeline stages across nodes.
    command: ["/bin/sh", "-c"]
    args:
      - ray start --head --port={{ int .Values.multiNode.rayPort }} --disable-usage-stats && exec modelsync-launch --config /etc/modelsync/inference.yaml
    {{- else }}
    command: ["/bin/sh", "-c"]
    args:
      - exec ray start --address="${LWS_LEADER_ADDRESS}:{{ int .Values.multiNode.rayPort }}" --disable-usage-stats --block
    {{- end }}
    ports:
      {{- if ne $role "worker" }}
      - name: http
        containerPort: {{ int .Values.vllm.port }}
        protocol: TCP
      {{- end }}
      {{- if ne $role "server" }}
      - name: ray
        containerPort: {{ int .Values.multiNode.rayPort }}
        protocol: TCP
      {{- end }}
    env:
      - name: HF_HOME
        value: /mnt/models
      {{- with .Values.model.accessSecret }}
      - name: HF_TOKEN
        valueFrom:
          secretKeyRef:
            name: {{ . }}
            key: HF_TOKEN
      {{- end }}
      # The root filesystem is read-only: every cache vLLM, Triton, TorchInductor and
      # CUDA write goes to the writable home volume, temporary files to /tmp.
      - name: HOME
        value: /home/modelsync
      - name: XDG_CACHE_HOME
        value: /home/modelsync/.cache
      - name: XDG_CONFIG_HOME
        value: /home/modelsync/.config
      - name: VLLM_CACHE_ROOT
        value: /home/modelsync/.cache/vllm
      - name: VLLM_CONFIG_ROOT
        value: /home/modelsync/.config/vllm
      - name: TRITON_CACHE_DIR
        value: /home/modelsync/.cache/triton
      - name: TORCHINDUCTOR_CACHE_DIR
        value: /home/modelsync/.cache/torchinductor
      - name: CUDA_CACHE_PATH
        value: /home/modelsync/.cache/nv
      - name: NUMBA_CACHE_DIR
        value: /home/modelsync/.cache/numba
      - name: TMPDIR
        value: /tmp
      - name: VLLM_NO_USAGE_STATS
        value: "1"
      - name: DO_NOT_TRACK
        value: "1"
      {{- with .Values.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    resources:
      {{- include "workspace-inference.resources" . | nindent 6 }}
    {{- if ne $role "worker" }}
    # The server listens only once the weights are downloaded and loaded: the startup
    # probe allows for both, scaled by the model size (see the chart README).
    startupProbe:
      httpGet:
        path: /health
        port: http
      periodSeconds: {{ int .Values.probes.startup.periodSeconds }}
      timeoutSeconds: 5
      failureThreshold: {{ $startupThreshold }}
    readinessProbe:
      httpGet:
        path: {{ .Values.probes.readiness.path }}
        port: http
      periodSeconds: {{ int .Values.probes.readiness.periodSeconds }}
      timeoutSeconds: 5
      failureThreshold: {{ int .Values.probes.readiness.failureThreshold }}
    livenessProbe:
      httpGet:
        path: /health
        port: http
      periodSeconds: {{ int .Values.probes.liveness.periodSeconds }}
      timeoutSeconds: {{ int .Values.probes.liveness.timeoutSeconds }}
      failureThreshold: {{ int .Values.probes.liveness.failureThreshold }}
    {{- end }}
    securityContext:
      {{- toYaml .Values.securityContext | nindent 6 }}
    volumeMounts:
      - name: config
        mountPath: /etc/modelsync/inference.yaml
        subPath: inference.yaml
        readOnly: true
      {{- if .Values.vllm.configMap }}
      - name: override-config
        mountPath: /etc/modelsync/override
        readOnly: true
      {{- end }}
      - name: model-cache
        mountPath: /mnt/models
      - name: dshm
        mountPath: /dev/shm
      - name: tmp
        mountPath: /tmp
      - name: home
        mountPath: /home/modelsync
      # Writable only when volume adapters below need their mount points created in it.
      - name: adapters
        mountPath: /mnt/adapters
        readOnly: {{ not (include "workspace-inference.hasVolumeAdapters" .) }}
      {{- range $i, $a := .Values.adapters }}
      {{- if not $a.image }}
      - name: adapter-{{ $i }}
        mountPath: /mnt/adapters/{{ $a.name }}
        readOnly: true
      {{- end }}
      {{- end }}
volumes:
  - name: config
    configMap:
      name: {{ $fullname }}-config
  {{- with .Values.vllm.configMap }}
  - name: override-config
    configMap:
      name: {{ . }}
  {{- end }}
  - name: model-cache
    {{- if eq .Values.modelCache.type "persistentVolumeClaim" }}
    persistentVolumeClaim:
      claimName: {{ include "workspace-inference.cacheClaimName" . }}
    {{- else if $cacheSize }}
    emptyDir:
      sizeLimit: {{ $cacheSize }}
    {{- else }}
    emptyDir: {}
    {{- end }}
  - name: dshm
    emptyDir:
      medium: Memory
      sizeLimit: {{ include "workspace-inference.shmSize" . }}
  - name: tmp
    emptyDir: {}
  - name: home
    emptyDir: {}
  - name: adapters
    emptyDir: {}
  {{- if $imageAdapters }}
  - name: modelsync-tools
    emptyDir: {}
  {{- end }}
  {{- range $i, $a := .Values.adapters }}
  {{- if not $a.image }}
  - name: adapter-{{ $i }}
    {{- toYaml $a.volumeSource | nindent 4 }}
  {{- end }}
  {{- end }}
{{- end }}
{{- end }}

{{/* Value checks every vLLM workload (Deployment or LeaderWorkerSet) makes first. */}}
{{- define "workspace-inference.checks" -}}
{{- $gpus := int .Values.resources.gpus }}
{{- $tp := int .Values.vllm.tensorParallelSize }}
{{- if and (gt $gpus 0) (gt $tp $gpus) }}
{{- fail (printf "vllm.tensorParallelSize (%d) cannot exceed resources.gpus (%d): a pod spans the GPUs of one node" $tp $gpus) }}
{{- end }}
{{- $names := dict }}
{{- range .Values.adapters }}
{{- if hasKey $names .name }}
{{- fail (printf "adapters: the name %q is used twice; vLLM serves each adapter under its name" .name) }}
{{- end }}
{{- $_ := set $names .name true }}
{{- end }}
{{- end }}
