#!/usr/bin/env bash
# Fetches the portals' vendored front-end files again from the npm registry,
# at the pinned versions, and rewrites SHA256SUMS. Run it only to change a
# version; the files are committed and embedded, so neither building nor
# testing VitalChain needs npm.
set -euo pipefail
cd "$(dirname "$0")"
HTMX=2.0.11 HTMX_SSE=2.2.4 UPLOT=1.6.32
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "htmx.org@$HTMX" "htmx-ext-sse@$HTMX_SSE" "uplot@$UPLOT" >/dev/null)
for f in "$tmp"/*.tgz; do mkdir -p "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done
cp "$tmp/htmx.org-$HTMX/package/dist/htmx.min.js" .
cp "$tmp/htmx.org-$HTMX/package/LICENSE" htmx.LICENSE
cp "$tmp/htmx-ext-sse-$HTMX_SSE/package/dist/sse.min.js" .
cp "$tmp/htmx-ext-sse-$HTMX_SSE/package/LICENSE" htmx-ext-sse.LICENSE
cp "$tmp/uplot-$UPLOT/package/dist/uPlot.iife.min.js" "$tmp/uplot-$UPLOT/package/dist/uPlot.min.css" .
cp "$tmp/uplot-$UPLOT/package/LICENSE" uPlot.LICENSE
sha256sum htmx.min.js sse.min.js uPlot.iife.min.js uPlot.min.css > SHA256SUMS
echo "htmx.org $HTMX, htmx-ext-sse $HTMX_SSE, uplot $UPLOT"
