#!/usr/bin/env bash
# Supply chain, without the advisory database: licenses, banned crates (backoff, OpenSSL) and
# sources with cargo-deny (deny.toml). Installs cargo-deny from crates.io
# when missing (a few minutes, once per machine).
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! cargo deny --version >/dev/null 2>&1; then
  echo "deny: installing cargo-deny (cargo install --locked cargo-deny)"
  cargo install --locked --quiet cargo-deny
fi
cargo deny --version
# Not --offline: cargo metadata needs every platform's crates, fetched from
# crates.io (reachable); only the advisory database is out of reach.
cargo deny check licenses bans sources
echo "deny: ok"
