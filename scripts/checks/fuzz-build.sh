#!/usr/bin/env bash
# Type-check the cargo-fuzz targets on the stable toolchain, so they keep
# compiling although CI cannot run libFuzzer (which needs nightly). Running
# them: see fuzz/Cargo.toml.
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "fuzz-build: cargo check of fuzz/ (5 targets)"
cargo check --quiet --manifest-path fuzz/Cargo.toml --bins
echo "fuzz-build: ok"
