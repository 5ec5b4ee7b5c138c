#!/usr/bin/env bash
# Install a built bundle (dist/emotion-lens) for the current user, with its menu entry and icons.
#
#   packaging/install-linux.sh                  # into ~/.local (no root needed)
#   packaging/install-linux.sh --prefix /usr/local   # system-wide (run with sudo)
#   packaging/install-linux.sh --uninstall      # remove what an install put there
#   packaging/install-linux.sh --bundle DIR     # a bundle other than dist/emotion-lens
#
# Puts the bundle in PREFIX/lib/emotion-lens, a link PREFIX/bin/emotion-lens, the desktop entry in
# PREFIX/share/applications and the icons in PREFIX/share/icons/hicolor/<size>/apps.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="$HOME/.local"
BUNDLE="$ROOT/dist/emotion-lens"
UNINSTALL=0
while (($#)); do
    case "$1" in
        --prefix) PREFIX="$2"; shift ;;
        --bundle) BUNDLE="$2"; shift ;;
        --uninstall) UNINSTALL=1 ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install-linux.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

SIZES=(16 32 48 64 128 256 512)
LIB="$PREFIX/lib/emotion-lens"
if ((UNINSTALL)); then
    rm -rf "$LIB"
    rm -f "$PREFIX/bin/emotion-lens" "$PREFIX/share/applications/emotion-lens.desktop"
    for s in "${SIZES[@]}"; do rm -f "$PREFIX/share/icons/hicolor/${s}x${s}/apps/emotion-lens.png"; done
else
    [[ -x "$BUNDLE/emotion-lens" ]] || { echo "no bundle at $BUNDLE: run packaging/build.sh" >&2; exit 1; }
    mkdir -p "$PREFIX/lib" "$PREFIX/bin" "$PREFIX/share/applications"
    rm -rf "$LIB"
    cp -a "$BUNDLE" "$LIB"
    ln -sfn "$LIB/emotion-lens" "$PREFIX/bin/emotion-lens"
    # absolute Exec/TryExec, so the menu entry works even when PREFIX/bin is not on PATH
    sed -e "s|^Exec=emotion-lens|Exec=$LIB/emotion-lens|" -e "s|^TryExec=emotion-lens|TryExec=$LIB/emotion-lens|" \
        "$ROOT/packaging/emotion-lens.desktop" > "$PREFIX/share/applications/emotion-lens.desktop"
    for s in "${SIZES[@]}"; do
        install -D -m 644 "$ROOT/assets/icons/emotion-lens-$s.png" \
            "$PREFIX/share/icons/hicolor/${s}x${s}/apps/emotion-lens.png"
    done
fi
command -v update-desktop-database >/dev/null && update-desktop-database -q "$PREFIX/share/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$PREFIX/share/icons/hicolor" || true
if ((UNINSTALL)); then echo "removed Emotion Lens from $PREFIX"; else echo "installed Emotion Lens in $LIB"; fi
