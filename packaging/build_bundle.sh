#!/usr/bin/env bash
# Build the one-folder desktop bundle (dist/DiffGenStudio) and install the Linux launcher.
# Needs: pip install -e '.[packaging]'. Run from anywhere; takes several minutes (torch is large).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m PyInstaller --noconfirm --distpath dist --workpath build/pyinstaller packaging/diffgen.spec
if [ "${1:-}" = "--install-desktop" ]; then
  apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
  icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/scalable/apps"
  mkdir -p "$apps" "$icons"
  sed "s|^Exec=diffgen|Exec=$PWD/dist/DiffGenStudio/diffgen|" packaging/diffgen-studio.desktop > "$apps/diffgen-studio.desktop"
  cp resources/icons/diffgen.svg "$icons/diffgen-studio.svg"
  echo "Installed launcher in $apps"
fi
echo "Bundle: dist/DiffGenStudio/diffgen"
