#!/bin/sh
# Stage the tuning input: download every URL of DATA_URLS (space separated) into DATA_DIR.
# Runs in the curl image as an init container; curl retries transient failures itself.
set -eu
i=0
for url in $DATA_URLS; do
  i=$((i + 1))
  path=${url%%\?*}
  path=${path%%#*}
  name=${path##*/}
  [ -n "$name" ] || name="input-$i"
  [ ! -e "$DATA_DIR/$name" ] || name="$i-$name"
  echo "downloading $url to $DATA_DIR/$name"
  curl --fail --location --silent --show-error \
    --retry "$RETRIES" --retry-all-errors --retry-delay 10 \
    --connect-timeout 30 --output "$DATA_DIR/$name.partial" "$url"
  mv "$DATA_DIR/$name.partial" "$DATA_DIR/$name"
done
echo "staged $i file(s) in $DATA_DIR"
