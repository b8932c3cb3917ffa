#!/usr/bin/env bash
# .ci/deps.sh: installs what the tests need that Go cannot fetch: Debian's Chromium, for the
# browser tests (never let a Go driver download a browser of its own), Debian's prometheus package
# for promtool (the alert rules' tests), and the npm Crowd clients the independent-client test
# drives (crowdapi/testdata/npmclient, pinned by its lock file).
# CI runs as root; a missing package that cannot be installed fails the run.
set -euo pipefail

bash "$(dirname "${BASH_SOURCE[0]}")/../crowdapi/testdata/npmclient/install.sh"

# promtool, for the alert rules' unit tests (metrics.TestAlertRules), from Debian's prometheus package.
if ! command -v promtool >/dev/null 2>&1; then
	if [[ $(id -u) -ne 0 ]]; then
		echo ".ci/deps.sh: promtool is not installed, and installing it needs root: apt-get install -y prometheus" >&2
		exit 1
	fi
	echo "promtool is not installed: installing Debian's prometheus package"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
echo "promtool: $(promtool --version 2>&1 | head -n 1)"

if command -v chromium >/dev/null 2>&1; then
	echo "chromium: $(chromium --version 2>/dev/null || echo 'present') ($(command -v chromium))"
	exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
	echo ".ci/deps.sh: chromium is not installed, and installing it needs root: apt-get install -y chromium" >&2
	exit 1
fi
echo "chromium is not installed: installing Debian's package"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
if ! command -v chromium >/dev/null 2>&1; then
	echo ".ci/deps.sh: apt-get install chromium succeeded but there is no chromium command" >&2
	exit 1
fi
echo "chromium: $(chromium --version 2>/dev/null || echo 'installed') ($(command -v chromium))"
