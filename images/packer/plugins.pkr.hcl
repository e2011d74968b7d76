# Packer 1.7 and later load the googlecompute builder as a plugin that `packer init` installs;
# they need this block to know which. Packer 1.6, which has the builder built in (Debian 12
# ships 1.6.6), refuses the block ("Blocks of type required_plugins are not expected"), so
# `wsfleet images build` and `wsfleet images validate` copy this file into the template they
# assemble only for Packer 1.7 and later, and run `packer init` only then. null, shell-local,
# file and shell are built into every version.

packer {
  required_version = ">= 1.7.0"

  required_plugins {
    googlecompute = {
      version = ">= 1.1.1, < 2.0.0"
      source  = "github.com/hashicorp/googlecompute"
    }
  }
}
