# Inputs of both image templates (app.pkr.hcl, renewer.pkr.hcl). `wsfleet images build` sets
# them; the ones without a default are required. Extra ones can be passed with --var k=v.

variable "project_id" {
  type        = string
  description = "Google Cloud project that builds and keeps the image."
}

variable "zone" {
  type        = string
  default     = "us-central1-a"
  description = "Zone of the temporary build VM."
}

variable "image_family" {
  type        = string
  default     = ""
  description = "Image family the image joins; empty: wsfleet-<role>."
}

variable "wsfleet_version" {
  type        = string
  description = "Version of wsfleet (package.json), stamped into the image name and labels."

  validation {
    condition     = length(var.wsfleet_version) > 0 && length(var.wsfleet_version) <= 30
    error_message = "The wsfleet version must be 1 to 30 characters."
  }
}

variable "content_hash" {
  type        = string
  description = "First 12 hex digits of the hash of every input (templates, provisioning, bundle, Node pin, units, nginx files)."

  # Packer 1.6 has no regex(): deleting every allowed character must leave nothing.
  validation {
    condition     = length(var.content_hash) == 12 && regex_replace(var.content_hash, "[0-9a-f]", "") == ""
    error_message = "The content hash must be 12 lower-case hex digits."
  }
}

variable "staging_dir" {
  type        = string
  description = "Local folder holding the staged inputs (see images/provision/install.sh)."

  # The file provisioner uploads it to /tmp under its own name, where the shell provisioner runs it.
  validation {
    condition     = basename(var.staging_dir) == "wsfleet-image"
    error_message = "The staging folder must be named wsfleet-image."
  }
}

variable "source_image_family" {
  type        = string
  default     = "debian-12"
  description = "Base image family."
}

variable "source_image_project_id" {
  type        = string
  default     = "debian-cloud"
  description = "Project of the base image family."
}

variable "machine_type" {
  type        = string
  default     = "e2-standard-2"
  description = "Machine type of the temporary build VM."
}

variable "disk_size" {
  type        = number
  default     = 10
  description = "Boot disk of the image, in GB."
}

variable "network" {
  type        = string
  default     = ""
  description = "VPC network of the build VM; empty: the project's default network."
}

variable "subnetwork" {
  type        = string
  default     = ""
  description = "Subnetwork of the build VM (required for custom-mode networks)."
}

variable "use_os_login" {
  type        = bool
  default     = false
  description = "Connect to the build VM through OS Login (projects that enforce it)."
}

locals {
  # GCE names and label values allow lower-case letters, digits and hyphens: 0.1.0 -> 0-1-0.
  version_stamp = regex_replace(lower(var.wsfleet_version), "[^a-z0-9]", "-")
  # wsfleet-<role>-<version>-<hash>: a new image whenever any input changes, never a name reused
  # for other bytes.
  name_suffix = "${local.version_stamp}-${var.content_hash}"
  labels = {
    wsfleet_version = local.version_stamp
    content_hash    = var.content_hash
  }
}
