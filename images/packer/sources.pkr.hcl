# The sources both templates build from; app.pkr.hcl and renewer.pkr.hcl name them after their
# role and set what differs (image name, family, labels).

# Production: a VM from Debian 12's image family, provisioned over SSH, saved as an image. Google's
# guest agent stays in the image: the passthrough load balancer needs the local route it adds for
# the forwarding rule's address.
source "googlecompute" "debian" {
  project_id              = var.project_id
  zone                    = var.zone
  source_image_family     = var.source_image_family
  source_image_project_id = [var.source_image_project_id]
  machine_type            = var.machine_type
  disk_size               = var.disk_size
  network                 = var.network
  subnetwork              = var.subnetwork
  use_os_login            = var.use_os_login
  ssh_username            = "packer"
  # Debian boots in well under a minute; a VM that has no SSH after 5 is broken.
  ssh_timeout   = "5m"
  state_timeout = "10m"
}

# The same provisioning in dry-run mode on this machine, without a cloud: every input is checked
# (the bundle starts on the pinned Node, the role's units are there) and each command a real run
# would execute is printed. What `wsfleet images build --target dry-run` builds.
source "null" "dry_run" {
  communicator = "none"
}
