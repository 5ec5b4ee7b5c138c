#!/usr/bin/env bash
# Run HERE just before and after a device call. A call carries the tracked tree with the data, 64
# MiB in all, and the GPU host needs none of the big tracked files: the shipped bundles' model
# files and the runs' resumable states (over 1 MiB each, under models/ and training/checkpoints/).
#   training/gpu/slim.sh          takes them out of the index and the tree, into the git-ignored
#                                 .gpu-slim/ (a call then carries the code and the data only)
#   training/gpu/slim.sh restore  puts every one back, file and index entry, as it was
#   training/gpu/slim.sh list     names them (prepare.sh counts the tree without them)
# Commit nothing in between: the index shows them deleted until `restore`.
set -euo pipefail
cd "$(dirname "$0")/../.."
stash=.gpu-slim
grep -qx '/.gpu-slim/' .git/info/exclude 2>/dev/null || echo '/.gpu-slim/' >> .git/info/exclude
big_files() {  # NUL-separated: the tracked files a call need not carry
  while IFS= read -r -d '' f; do
    [ -f "$f" ] && [ "$(stat -c %s "$f")" -gt 1048576 ] && printf '%s\0' "$f"
  done < <(git ls-files -z -- models training/checkpoints)
  return 0
}
case "${1:-take}" in
  list) big_files | tr '\0' '\n' ;;
  take)
    if [ -e "$stash" ]; then
      echo "error: $stash/ exists (an earlier take): run 'training/gpu/slim.sh restore' first" >&2
      exit 2
    fi
    mkdir -p "$stash"
    : > "$stash/.list"
    while IFS= read -r -d '' f; do
      mkdir -p "$stash/$(dirname "$f")"
      mv -- "$f" "$stash/$f"
      git rm -q --cached -- "$f"
      printf '%s\n' "$f" >> "$stash/.list"
    done < <(big_files)
    echo "took $(wc -l < "$stash/.list") files out of the tree into $stash/ (restore: training/gpu/slim.sh restore)"
    ;;
  restore)
    if [ ! -f "$stash/.list" ]; then echo "nothing to restore ($stash/ is not there)"; exit 0; fi
    while IFS= read -r f; do
      mkdir -p "$(dirname "$f")"
      mv -- "$stash/$f" "$f"
      git reset -q -- "$f"
    done < "$stash/.list"
    rm -rf "$stash"
    echo "restored the files taken out"
    ;;
  *) echo "error: usage: training/gpu/slim.sh [take|restore|list]" >&2; exit 2 ;;
esac
