# The renewer VM image: the ACME renewer (`wsfleet renewer run`) that keeps the certificates in
# the store, with port 80 held by its socket unit.
#
# Built by `wsfleet images build renewer` (images/build/), which stages the inputs, sets the
# variables (variables.pkr.hcl) and picks one source: googlecompute.renewer (--target gce) or
# null.renewer (--target dry-run). Both run images/provision/install.sh and finalize.sh with the
# same arguments; the null source adds --dry-run and runs them on this machine.

build {
  name = "renewer"

  source "source.googlecompute.debian" {
    name              = "renewer"
    image_name        = "wsfleet-renewer-${local.name_suffix}"
    image_family      = var.image_family != "" ? var.image_family : "wsfleet-renewer"
    image_description = "wsfleet renewer VM: the ACME renewer (${var.wsfleet_version}, inputs ${var.content_hash})"
    image_labels      = merge(local.labels, { wsfleet_role = "renewer" })
  }

  source "source.null.dry_run" {
    name = "renewer"
  }

  provisioner "shell-local" {
    only             = ["null.renewer"]
    environment_vars = ["WSFLEET_IMAGE_SRC=${var.staging_dir}"]
    inline = [
      "bash \"$WSFLEET_IMAGE_SRC/provision/install.sh\" --role renewer --src \"$WSFLEET_IMAGE_SRC\" --dry-run",
      "bash \"$WSFLEET_IMAGE_SRC/provision/finalize.sh\" --remove /tmp/wsfleet-image --dry-run",
    ]
  }

  # The staged folder (named wsfleet-image) lands as /tmp/wsfleet-image.
  provisioner "file" {
    only        = ["googlecompute.renewer"]
    source      = var.staging_dir
    destination = "/tmp"
  }

  provisioner "shell" {
    only = ["googlecompute.renewer"]
    inline = [
      "sudo bash /tmp/wsfleet-image/provision/install.sh --role renewer --src /tmp/wsfleet-image",
      "sudo bash /tmp/wsfleet-image/provision/finalize.sh --remove /tmp/wsfleet-image",
    ]
  }
}
