# Shared helpers for the project's scripts. Source it: `. "$(dirname "$0")/lib.sh"`.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
export PATH="$ROOT/node_modules/.bin:$PATH"
# The native Foundry binaries first: the npm shims in node_modules/.bin do not pass the tool's
# exit status on (a failing `forge test` through the shim exits 0), so gates must not use them.
case "$(uname -m)" in
  x86_64 | amd64) _arch=amd64 ;;
  aarch64 | arm64) _arch=arm64 ;;
  *) _arch=unknown ;;
esac
_os="$(uname -s | tr '[:upper:]' '[:lower:]')"
for _tool in anvil cast forge; do
  _dir="$ROOT/node_modules/@foundry-rs/$_tool-$_os-$_arch/bin"
  [ -d "$_dir" ] && PATH="$_dir:$PATH"
done
unset _arch _os _tool _dir
export PATH

# One readable line on stderr and a non-zero exit.
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# A section header with the wall clock, so long runs show where they are.
step() {
  printf '\n==> [%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

info() {
  printf '    %s\n' "$*" >&2
}

have() {
  command -v "$1" >/dev/null 2>&1
}

# Run a command as root, directly or through sudo; fail clearly otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif have sudo; then
    sudo "$@"
  else
    die "need root to run: $* (install it by hand or run as root)"
  fi
}
