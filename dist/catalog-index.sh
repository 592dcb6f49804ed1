#!/bin/sh
# Write the catalog index that `natpilot update` reads (docs/update.md) for a
# directory laid out like profiles/: every platforms/*.json and games/*.json
# with its sha256 and size. Usage: dist/catalog-index.sh DIR > DIR/index.json
set -eu
dir=${1:?usage: catalog-index.sh DIR}
cd "$dir"
first=1
printf '{\n  "schema": 1,\n  "files": [\n'
for f in platforms/*.json games/*.json; do
  [ -f "$f" ] || continue
  sum=$(sha256sum "$f" | cut -d' ' -f1)
  size=$(wc -c < "$f" | tr -d ' ')
  [ "$first" = 1 ] || printf ',\n'
  first=0
  printf '    {"path": "%s", "sha256": "%s", "size": %s}' "$f" "$sum" "$size"
done
printf '\n  ]\n}\n'
