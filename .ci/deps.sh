#!/usr/bin/env bash
# .ci/deps.sh: installs what the tests need that Go cannot fetch: Debian's Chromium, for the
# browser tests (never let a Go driver download a browser of its own), Debian's prometheus package
# for promtool (the alert rules' tests), and the npm Crowd clients the independent-client test
# drives (crowdapi/testdata/npmclient, pinned by its lock file).
# CI runs as root; a missing package that cannot be installed fails the run.
set -euo pipefail

bash "$(dirname "${BASH_SOURCE[0]}")/../crowdapi/testdata/npmclient/install.sh"

# need CMD PACKAGE [APT-GET OPTION...] installs Debian's PACKAGE when the command CMD is missing.
need() {
	local cmd=$1 pkg=$2
	shift 2
	if command -v "$cmd" >/dev/null 2>&1; then
		return 0
	fi
	if [[ $(id -u) -ne 0 ]]; then
		echo ".ci/deps.sh: $cmd is not installed, and installing it needs root: apt-get install -y $pkg" >&2
		exit 1
	fi
	echo "$cmd is not installed: installing Debian's $pkg package"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "$@" "$pkg" >/dev/null
	if ! command -v "$cmd" >/dev/null 2>&1; then
		echo ".ci/deps.sh: apt-get install $pkg succeeded but there is no $cmd command" >&2
		exit 1
	fi
}

# promtool, for the alert rules' unit tests (metrics.TestAlertRules), from Debian's prometheus package.
need promtool prometheus --no-install-recommends
echo "promtool: $(promtool --version 2>&1 | head -n 1)"

need chromium chromium
echo "chromium: $(chromium --version 2>/dev/null || echo 'present') ($(command -v chromium))"
