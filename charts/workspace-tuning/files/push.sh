#!/bin/sh
# Push the trained adapter in OUTPUT_DIR to IMAGE as a KAITO adapter image: one layer
# holding data/<adapter files> and an image config with rootfs.diff_ids but no os or
# architecture, so any node's containerd unpacks it and workspace-inference can serve it
# (its adapter init containers copy /data out of the image).
# Runs in the oras image as the Job's main container, after the trainer init container.
set -eu
if [ ! -f "$OUTPUT_DIR/.modelsync-complete" ]; then
  echo "$OUTPUT_DIR/.modelsync-complete is missing: training did not finish; nothing pushed" >&2
  exit 1
fi
work=$(mktemp -d)
mkdir "$work/data"
for f in "$OUTPUT_DIR"/*; do
  [ -e "$f" ] || continue
  # Checkpoints exist to resume a run; they are not part of the adapter.
  if [ "${f##*/}" != checkpoints ]; then
    cp -R "$f" "$work/data/"
  fi
done
if [ ! -f "$work/data/adapter_config.json" ]; then
  echo "$OUTPUT_DIR holds no adapter_config.json; nothing pushed" >&2
  exit 1
fi
cd "$work"
tar -cf layer.tar data
diff_id=$(sha256sum layer.tar | cut -d ' ' -f 1)
gzip layer.tar
printf '{"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diff_id" > config.json

set -- push "$IMAGE" \
  --config config.json:application/vnd.oci.image.config.v1+json \
  --annotation "dev.modelsync.workspace=$WORKSPACE"
if [ -n "${MODEL_PRESET:-}" ]; then
  set -- "$@" --annotation "sh.kaito.model.name=$MODEL_PRESET"
fi
if [ -n "${REGISTRY_CONFIG:-}" ]; then
  set -- "$@" --registry-config "$REGISTRY_CONFIG"
fi
set -- "$@" layer.tar.gz:application/vnd.oci.image.layer.v1.tar+gzip

# A failed push would otherwise fail the pod and make the Job train again from scratch.
attempt=1
until oras "$@"; do
  if [ "$attempt" -ge "$RETRIES" ]; then
    echo "oras push to $IMAGE failed $attempt times" >&2
    exit 1
  fi
  sleep $((attempt * 15))
  attempt=$((attempt + 1))
done
echo "pushed the adapter to $IMAGE"
