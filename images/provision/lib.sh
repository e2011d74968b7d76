# shellcheck shell=bash
# Helpers shared by install.sh and finalize.sh (sourced, never run): logging, the dry-run switch
# and running a command inside the target root.
#
# Every change to the target goes through `run` or `in_root`, so --dry-run prints exactly the
# commands a real run would execute and changes nothing. Commands are passed as words, never as
# a string for a shell to re-parse.

# Target root: / on a VM, a rootfs folder for the local build.
ROOT=/
DRY_RUN=0

log() {
  printf '==> %s\n' "$*"
}

die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Runs a command that changes the target, or prints it under --dry-run.
run() {
  if [ "$DRY_RUN" = 1 ]; then
    printf 'would run:'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}

# Runs a command as the target system would: directly when the target is this machine, through
# chroot for a rootfs (whose binaries and libraries are the target's, not the build host's).
in_root() {
  if [ "$ROOT" = / ]; then
    run "$@"
  else
    run chroot "$ROOT" "$@"
  fi
}

# A path inside the target root.
target() {
  if [ "$ROOT" = / ]; then
    printf '%s' "$1"
  else
    printf '%s%s' "${ROOT%/}" "$1"
  fi
}

# Copies one file into the target with a mode, owned by root, creating its folders.
put() {
  local mode=$1 src=$2 dest=$3
  [ -f "$src" ] || die "missing input file $src"
  run install -D -m "$mode" -o root -g root "$src" "$(target "$dest")"
}

# Shared by install.sh and finalize.sh: --root and --dry-run, checked the same way.
set_root() {
  [ -n "$1" ] || die "--root needs a folder"
  case $1 in
    /*) ;;
    *) die "--root must be an absolute path, got $1" ;;
  esac
  if [ "$1" != / ]; then
    [ -d "$1" ] || die "--root $1 is not a folder"
  fi
  ROOT=$1
}
