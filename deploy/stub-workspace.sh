#!/bin/sh
# Write a copy of the Cargo workspace that has the real manifests and lock file
# but an empty stub in place of every target's source file.
#
#   usage: deploy/stub-workspace.sh OUT_DIR      (run from the workspace root)
#
# The Dockerfile builds this stub workspace first, so that compiling the
# third-party dependencies lands in a Docker layer that only changes when a
# Cargo.toml or Cargo.lock changes (the technique cargo-chef automates, done
# here with cargo itself and a shell).
#
# Why `cargo metadata` and not a list of crates: it reports every package of
# the workspace (whatever `members` globs match, so a crate added under
# crates/ is picked up with no edit here) and the source path of every target
# cargo will look for: lib, bins, explicit [[bin]]/[[bench]]/[[test]]/[[example]]
# paths and build scripts. `--no-deps` needs neither the network nor the
# registry. The JSON is one line without escaped quotes in paths, so grep is
# enough and the builder image needs no jq or python.
set -eu

out=${1:?usage: $0 OUT_DIR}
root=$(pwd -P)

meta=$(cargo metadata --no-deps --format-version 1 --offline --quiet)

# Print every value of a JSON string field, one per line.
field() {
  printf '%s\n' "$meta" | grep -o "\"$1\":\"[^\"]*\"" | sed "s/^\"$1\":\"//; s/\"\$//" | sort -u
}

# Relative path of an absolute path inside the workspace.
rel() {
  case $1 in
    "$root"/*) printf '%s\n' "${1#"$root"/}" ;;
    *) echo "stub-workspace: $1 is outside the workspace $root" >&2; exit 1 ;;
  esac
}

mkdir -p "$out"

# Workspace-level files that change how cargo resolves or builds.
for f in Cargo.toml Cargo.lock rust-toolchain rust-toolchain.toml .cargo/config.toml .cargo/config; do
  if [ -f "$f" ]; then
    mkdir -p "$out/$(dirname "$f")"
    cp -p "$f" "$out/$f"
  fi
done

manifests=0
for m in $(field manifest_path); do
  r=$(rel "$m")
  mkdir -p "$out/$(dirname "$r")"
  cp -p "$m" "$out/$r"
  manifests=$((manifests + 1))
done

# One stub serves every kind of target: `fn main` makes a valid bin, test,
# bench, example or build script, and is only an unused function in a lib.
stubs=0
for s in $(field src_path); do
  r=$(rel "$s")
  mkdir -p "$out/$(dirname "$r")"
  printf '#![allow(dead_code)]\nfn main() {}\n' >"$out/$r"
  stubs=$((stubs + 1))
done

echo "stub-workspace: $manifests manifests, $stubs stub targets in $out"
