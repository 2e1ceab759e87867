#!/usr/bin/env bash
# `vercel-oidc aws credential-process` as a whole process (AWS tools start
# it on every refresh) against a Rust program using aws-config 1.13's own web-identity provider
# (providers/aws/examples/aws_config_web_identity.rs), both getting credentials once from the
# testkit STS on 127.0.0.1 and printing credential_process JSON. Timed with hyperfine
# (`apt-get install hyperfine` or `cargo install hyperfine`).
#
# Usage (from anywhere in the repository):
#   providers/aws/benches/credential_process.sh [ENV_FILE] [extra hyperfine arguments]
#
# ENV_FILE: "--https" for a TLS emulator started by the script, or the export lines of an
#   already-running emulator, as written by
#   cargo run --release -p vercel-oidc-aws --example sts_emulator_server -- ENV_FILE &
# Without ENV_FILE (or with "-"), the script starts that example itself for the run and stops
# it (by its process id) at the end.
set -euo pipefail

cd "$(dirname "$0")/../../.."
command -v hyperfine >/dev/null || { echo "hyperfine not found (apt-get install hyperfine)" >&2; exit 1; }

# The lean CLI (no demo and its emulators), as `cargo install vercel-oidc-cli --no-default-features`
# builds it for credential_process.
cargo build --release --quiet -p vercel-oidc-cli --no-default-features --bin vercel-oidc
cargo build --release --quiet -p vercel-oidc-aws \
    --example aws_config_web_identity --example vercel_oidc_credential_process \
    --example sts_emulator_server
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
cli="$target_dir/release/vercel-oidc"
aws_config="$target_dir/release/examples/aws_config_web_identity"
ours_minimal="$target_dir/release/examples/vercel_oidc_credential_process"

env_file=${1:--}
[ $# -gt 0 ] && shift
scratch=$(mktemp -d)
emulator_pid=
cleanup() {
    if [ -n "$emulator_pid" ]; then kill "$emulator_pid" 2>/dev/null || true; fi
    rm -rf "$scratch"
}
trap cleanup EXIT

if [ "$env_file" = "-" ] || [ "$env_file" = "--https" ]; then
    tls=
    [ "$env_file" = "--https" ] && tls=--https
    env_file="$scratch/sts.env"
    "$target_dir/release/examples/sts_emulator_server" "$env_file" $tls >/dev/null &
    emulator_pid=$!
    for _ in $(seq 100); do
        grep -q '^export VERCEL_OIDC_TOKEN=' "$env_file" 2>/dev/null && break
        sleep 0.05
    done
fi
# shellcheck disable=SC1090
. "$env_file"
echo "STS emulator: $AWS_ENDPOINT_URL_STS"

# The cross-process cache in a scratch dir: the cached case hits it on every timed run.
export XDG_CACHE_HOME="$scratch/cache"

# All must work before they are timed (the JSON holds emulator credentials only).
for program in "$cli aws credential-process" "$cli aws credential-process --no-cache" "$ours_minimal" "$aws_config"; do
    out=$($program) || { echo "failed: $program" >&2; exit 1; }
    [[ $out == *'"AccessKeyId"'* ]] || { echo "no credentials from: $program" >&2; exit 1; }
done

hyperfine -N --warmup 20 --runs 300 \
    -n "vercel-oidc aws credential-process (cached)" "$cli aws credential-process" \
    -n "vercel-oidc aws credential-process --no-cache" "$cli aws credential-process --no-cache" \
    -n "vercel-oidc-aws provider (minimal Rust program)" "$ours_minimal" \
    -n "aws-config 1.13 web identity (Rust program)" "$aws_config" \
    "$@"
