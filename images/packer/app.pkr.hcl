# The app VM image: nginx in front of the app daemon (`wsfleet app run`) and the certificate sync
# that installs the store's certificates for nginx (`wsfleet cert-sync run`).
#
# Built by `wsfleet images build app` (images/build/), which stages the inputs, sets the
# variables (variables.pkr.hcl) and picks one source: googlecompute.app (--target gce) or
# null.app (--target dry-run). Both run images/provision/install.sh and finalize.sh with the
# same arguments; the null source adds --dry-run and runs them on this machine.

build {
  name = "app"

  source "source.googlecompute.debian" {
    name              = "app"
    image_name        = "wsfleet-app-${local.name_suffix}"
    image_family      = var.image_family != "" ? var.image_family : "wsfleet-app"
    image_description = "wsfleet app VM: nginx, the app daemon and cert-sync (${var.wsfleet_version}, inputs ${var.content_hash})"
    image_labels      = merge(local.labels, { wsfleet_role = "app" })
  }

  source "source.null.dry_run" {
    name = "app"
  }

  provisioner "shell-local" {
    only             = ["null.app"]
    environment_vars = ["WSFLEET_IMAGE_SRC=${var.staging_dir}"]
    inline = [
      "bash \"$WSFLEET_IMAGE_SRC/provision/install.sh\" --role app --src \"$WSFLEET_IMAGE_SRC\" --dry-run",
      "bash \"$WSFLEET_IMAGE_SRC/provision/finalize.sh\" --remove /tmp/wsfleet-image --dry-run",
    ]
  }

  # The staged folder (named wsfleet-image) lands as /tmp/wsfleet-image.
  provisioner "file" {
    only        = ["googlecompute.app"]
    source      = var.staging_dir
    destination = "/tmp"
  }

  provisioner "shell" {
    only = ["googlecompute.app"]
    inline = [
      "sudo bash /tmp/wsfleet-image/provision/install.sh --role app --src /tmp/wsfleet-image",
      "sudo bash /tmp/wsfleet-image/provision/finalize.sh --remove /tmp/wsfleet-image",
    ]
  }
}
