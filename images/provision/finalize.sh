#!/usr/bin/env bash
# Seals a provisioned system into an image: the last step of every image build, after
# install.sh.
#
#   finalize.sh [--root DIR] [--remove DIR] [--dry-run]
#
# Drops apt's downloaded packages, removes the uploaded inputs (--remove, only under /tmp), and
# last resets cloud-init (`cloud-init clean --logs --machine-id`): every VM started from the
# image then runs cloud-init afresh with its own user-data and gets its own machine-id, instead
# of inheriting the build VM's.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

remove=
while [ $# -gt 0 ]; do
  case $1 in
    --root) set_root "${2:-}"; shift 2 || exit 64 ;;
    --remove) remove=${2:-}; shift 2 || exit 64 ;;
    --dry-run) DRY_RUN=1; shift ;;
    *) sed -n '5p' "${BASH_SOURCE[0]}" | sed 's/^# *//' >&2; exit 64 ;;
  esac
done

log "cleaning apt's package cache"
in_root apt-get clean

if [ -n "$remove" ]; then
  # The inputs were uploaded to /tmp; anything else here is a mistake in the caller.
  case $remove in
    /tmp/?*) ;;
    *) die "--remove only takes a folder under /tmp, got $remove" ;;
  esac
  log "removing the uploaded inputs $remove"
  run rm -rf -- "$(target "$remove")"
fi

log "resetting cloud-init and the machine-id for the next boot"
in_root cloud-init clean --logs --machine-id
log "sealed$([ "$DRY_RUN" = 1 ] && printf ' (dry run: nothing was changed)')"
