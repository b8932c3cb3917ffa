#!/usr/bin/env bash
# Installs the npm Crowd clients that crowdapi/npmclient_test.go (TestIndependentNodeClient) drives.
# Exact versions come from package-lock.json; node_modules/ is not committed. Idempotent: when
# node_modules already matches the lock file, nothing is downloaded.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if ! command -v node >/dev/null 2>&1; then
	echo "install.sh: node is not installed (need Node.js >= 18 with npm)" >&2
	exit 1
fi
if ! command -v npm >/dev/null 2>&1; then
	echo "install.sh: npm is not installed (need Node.js >= 18 with npm)" >&2
	exit 1
fi

# npm records what it installed in node_modules/.package-lock.json; when that matches the lock
# file and every package is present, npm ci (which always deletes node_modules first) is skipped.
if [ -f node_modules/.package-lock.json ] &&
	node -e '
		const fs = require("fs");
		const want = JSON.parse(fs.readFileSync("package-lock.json", "utf8")).packages;
		const have = JSON.parse(fs.readFileSync("node_modules/.package-lock.json", "utf8")).packages;
		for (const [p, w] of Object.entries(want)) {
			if (p === "") continue;
			const h = have[p];
			if (!h || h.version !== w.version || h.integrity !== w.integrity) process.exit(1);
			if (!fs.existsSync(p + "/package.json")) process.exit(1);
		}
		for (const p of Object.keys(have)) if (!(p in want)) process.exit(1);
	'; then
	echo "install.sh: node_modules is up to date"
	exit 0
fi

npm ci --no-audit --no-fund
