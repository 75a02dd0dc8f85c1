#!/usr/bin/env bash
# Re-fetches the dashboard's third-party files from the npm registry, as released (dist files and
# licences, unmodified), at the versions pinned here. Run from anywhere; needs npm and tar.
# The files are committed: building and running evfed needs neither npm nor a network.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
axe_dir="$here/../../tests/fixtures/axe"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

LEAFLET=1.9.4        # BSD-2-Clause: the map
SUPERCLUSTER=9.1.0   # ISC: clusters the points (bundles kdbush, ISC)
UPLOT=1.6.32         # MIT: the trend charts
AXE=4.14.1           # MPL-2.0: accessibility checks, tests only (not embedded in the binary)

fetch() { # name version -> unpacked in $tmp/name
  (cd "$tmp" && npm pack --silent "$1@$2" >/dev/null && mkdir "$1" && tar xzf "$1-$2.tgz" -C "$1")
}
fetch leaflet "$LEAFLET"
fetch supercluster "$SUPERCLUSTER"
fetch uplot "$UPLOT"
fetch axe-core "$AXE"

cp "$tmp/leaflet/package/dist/leaflet.js" "$tmp/leaflet/package/dist/leaflet.css" "$here/"
cp "$tmp/leaflet/package/LICENSE" "$here/LICENSE.leaflet"
cp "$tmp/supercluster/package/dist/supercluster.min.js" "$here/"
cp "$tmp/supercluster/package/LICENSE" "$here/LICENSE.supercluster"
cp "$tmp/uplot/package/dist/uPlot.iife.min.js" "$tmp/uplot/package/dist/uPlot.min.css" "$here/"
cp "$tmp/uplot/package/LICENSE" "$here/LICENSE.uplot"
mkdir -p "$axe_dir"
cp "$tmp/axe-core/package/axe.min.js" "$tmp/axe-core/package/LICENSE" "$axe_dir/"

cat > "$here/VERSIONS" <<TXT
leaflet $LEAFLET BSD-2-Clause dist/leaflet.js dist/leaflet.css
supercluster $SUPERCLUSTER ISC dist/supercluster.min.js
uplot $UPLOT MIT dist/uPlot.iife.min.js dist/uPlot.min.css
axe-core $AXE MPL-2.0 axe.min.js (tests only: aggregator/tests/fixtures/axe/)
TXT
(cd "$here" && sha256sum leaflet.js leaflet.css supercluster.min.js uPlot.iife.min.js uPlot.min.css ../../tests/fixtures/axe/axe.min.js > SHA256SUMS)
echo "vendored: $(tr '\n' ';' < "$here/VERSIONS")"
