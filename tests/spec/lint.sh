#!/usr/bin/env bash
# Lints web/openapi.json with @redocly/cli (rules: web/redocly.yaml, every
# rule of "recommended" an error). Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
if web/node_modules/.bin/redocly lint --config web/redocly.yaml web/openapi.json 2>&1 |
	grep -v '[║╔╚]'; then
	echo "ok - openapi.json lints clean"
	echo "1 passed, 0 failed"
else
	echo "FAIL - openapi.json lints clean"
	echo "0 passed, 1 failed"
	exit 1
fi
