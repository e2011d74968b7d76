# shellcheck shell=bash
# What each image role carries beyond the common runtime (sourced by install.sh, never run).
#
#   app      nginx in front of the app daemon, and the certificate sync that feeds nginx.
#   renewer  the ACME renewer, which owns port 80 through its socket unit.
#
# Sets, for the role in $1:
#   ROLE_PACKAGES   Debian packages installed on top of the base (the local build passes the
#                   same list, with the base's, to mmdebstrap --include).
#   ROLE_UNITS      globs over images/systemd/ naming the role's files there: units and drop-ins
#                   go to /etc/systemd/system/ (the VM's user-data enables them), sysusers.d/ and
#                   tmpfiles.d/ files to /etc/ and are applied at once.
#   ROLE_REQUIRED   units without which the image is useless (those cloud-init/render.ts enables):
#                   the build fails if one is missing.
#   ROLE_NGINX      1 when images/app/nginx/ is installed as /etc/nginx/.
#   ROLE_POLKIT     1 when images/polkit/*.rules are installed (cert-sync starts the nginx test
#                   unit through polkit).

# Every image: cloud-init (Debian's GCE images do not ship it; the same image must boot from a
# NoCloud seed locally), growpart for its growpart module (a Recommends of cloud-init, which the
# build does not install implicitly), and the CA roots for anything besides Node that speaks TLS.
# shellcheck disable=SC2034 # read by install.sh
BASE_PACKAGES=(cloud-init cloud-guest-utils ca-certificates)

# shellcheck disable=SC2034 # read by install.sh
load_role() {
  case $1 in
    app)
      ROLE_PACKAGES=(nginx polkitd)
      # cert-sync's fixed user and its folders (sysusers.d, tmpfiles.d) exist only on app VMs.
      # wsfleet-app-*: the boot oneshots that fetch the app's secrets and Redis AUTH string.
      ROLE_UNITS=('wsfleet-app.*' 'wsfleet-app-*' 'wsfleet-cert-sync.*' 'wsfleet-nginx-*'
        'nginx.service.d/*' 'sysusers.d/*' 'tmpfiles.d/*')
      ROLE_REQUIRED=(wsfleet-app.service wsfleet-app-secrets.service wsfleet-app-redis-auth.service
        wsfleet-cert-sync.service)
      ROLE_NGINX=1
      ROLE_POLKIT=1
      ;;
    renewer)
      ROLE_PACKAGES=()
      ROLE_UNITS=('wsfleet-renewer.*')
      ROLE_REQUIRED=(wsfleet-renewer.service wsfleet-renewer.socket)
      ROLE_NGINX=0
      ROLE_POLKIT=0
      ;;
    *)
      return 1
      ;;
  esac
}
