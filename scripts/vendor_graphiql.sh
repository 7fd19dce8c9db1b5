#!/usr/bin/env bash
# Refresh the GraphiQL assets served at /graphql/assets/ so the IDE works without any CDN.
# Versions follow what strawberry's own graphiql.html loads from unpkg (React 18.2 UMD +
# GraphiQL 3.8.3); bump them together. Only minified files are kept, without source maps:
# GraphiQL's own "graphiql.min.js" UMD build ships unminified (3.5 MB), so terser (pinned, from
# the npm registry) minifies it here, keeping license comments (1.4 MB).
# Usage: scripts/vendor_graphiql.sh   (needs npm; talks to the npm registry only)
set -euo pipefail

GRAPHIQL_VERSION=3.8.3
REACT_VERSION=18.2.0
TERSER_VERSION=5.36.0

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/src/mentorapi/static/graphiql"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --silent "graphiql@$GRAPHIQL_VERSION" "react@$REACT_VERSION" "react-dom@$REACT_VERSION" >/dev/null
for tarball in *.tgz; do
  mkdir -p "${tarball%.tgz}"
  tar -xzf "$tarball" -C "${tarball%.tgz}"
done

mkdir -p "$dest"
copy() {  # copy <from> <to>, dropping the sourceMappingURL comment (we ship no .map files)
  sed -e 's|//# sourceMappingURL=.*$||' -e 's|/\*# sourceMappingURL=.*\*/||' "$1" >"$dest/$2"
}
copy "react-$REACT_VERSION/package/umd/react.production.min.js" react.production.min.js
copy "react-dom-$REACT_VERSION/package/umd/react-dom.production.min.js" react-dom.production.min.js
npx --yes "terser@$TERSER_VERSION" "graphiql-$GRAPHIQL_VERSION/package/graphiql.min.js" \
  --compress --mangle --comments '/@license|@preserve|copyright/i' -o graphiql.terser.js
copy graphiql.terser.js graphiql.min.js
copy "graphiql-$GRAPHIQL_VERSION/package/graphiql.min.css" graphiql.min.css

for package in "graphiql-$GRAPHIQL_VERSION" "react-$REACT_VERSION"; do
  echo "== ${package%-*} =="
  cat "$package/package/LICENSE"
  echo
done >"$dest/LICENSES.txt"

{
  echo "graphiql $GRAPHIQL_VERSION (MIT), react $REACT_VERSION (MIT), react-dom $REACT_VERSION (MIT)"
  echo "graphiql.min.js minified with terser $TERSER_VERSION; licenses in LICENSES.txt"
  echo "from the npm registry by scripts/vendor_graphiql.sh; sha256 of the files as served:"
  (cd "$dest" && sha256sum react.production.min.js react-dom.production.min.js graphiql.min.js graphiql.min.css)
} >"$dest/VERSIONS.txt"
echo "vendored into $dest:"
du -ch "$dest"/*.js "$dest"/*.css | tail -1
