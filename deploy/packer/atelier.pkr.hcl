# Packer template for the Atelier AMI: Debian 12 with the release binary, its
# systemd unit (enabled) with its network drop-in, and the env template;
# instances launched from it get their DATABASE_URL and the addresses the
# service may talk to from deploy/cloud-init/user-data.yaml at first boot.
#
# Written for Packer 1.6.6 (Debian 12's package), whose HCL2 has no
# `packer { required_plugins }` block; Packer 1.10 and later need the Amazon
# plugin installed first (docs/OPERATIONS.md). Run from this directory:
#   cargo build --release            (at the repository root)
#   packer build -var region=eu-west-1 atelier.pkr.hcl

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "instance_type" {
  type    = string
  default = "c6i.large"
}

# Relative to the directory packer runs in, which is this one.
variable "binary_path" {
  type    = string
  default = "../../target/release/atelier"
}

variable "ami_name_prefix" {
  type    = string
  default = "atelier"
}

locals {
  # AMI names may not contain ':'; a timestamp keeps every bake's name unique.
  timestamp = regex_replace(timestamp(), "[-:TZ]", "")
}

source "amazon-ebs" "atelier" {
  region        = var.region
  instance_type = var.instance_type
  ami_name      = "${var.ami_name_prefix}-${local.timestamp}"
  ssh_username  = "admin"

  # The newest official Debian 12 image: 136693071363 is Debian's own account,
  # so a look-alike image published by someone else cannot be picked.
  source_ami_filter {
    filters = {
      name                = "debian-12-amd64-*"
      architecture        = "x86_64"
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = ["136693071363"]
    most_recent = true
  }

  tags = {
    Name    = "${var.ami_name_prefix}-${local.timestamp}"
    Service = "atelier"
  }
}

build {
  sources = ["source.amazon-ebs.atelier"]

  # Uploaded to /tmp first: the ssh user cannot write the final places.
  provisioner "file" {
    source      = var.binary_path
    destination = "/tmp/atelier"
  }

  provisioner "file" {
    source      = "${path.root}/../atelier.service"
    destination = "/tmp/atelier.service"
  }

  # Who may talk to the service; cloud-init rewrites it with the real
  # addresses at first boot.
  provisioner "file" {
    source      = "${path.root}/../atelier.service.d/network.conf"
    destination = "/tmp/atelier-network.conf"
  }

  provisioner "file" {
    source      = "${path.root}/../atelier.env.example"
    destination = "/tmp/atelier.env"
  }

  provisioner "shell" {
    inline_shebang = "/bin/sh -ex"
    inline = [
      # The build instance's own first boot may still be configuring apt, and
      # a periodic apt job may hold the dpkg lock: wait rather than fail.
      "cloud-init status --wait",
      "sudo apt-get -o DPkg::Lock::Timeout=300 update",
      # libpq5 is the binary's only run-time library besides glibc.
      "sudo DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends libpq5 ca-certificates",
      "sudo useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin atelier",
      "sudo install -o root -g root -m 0755 /tmp/atelier /usr/local/bin/atelier",
      "sudo install -o root -g root -m 0644 /tmp/atelier.service /etc/systemd/system/atelier.service",
      "sudo install -d -o root -g root -m 0755 /etc/systemd/system/atelier.service.d",
      "sudo install -o root -g root -m 0644 /tmp/atelier-network.conf /etc/systemd/system/atelier.service.d/network.conf",
      # Readable by the service's group only: it will hold the database password.
      "sudo install -d -o root -g atelier -m 0750 /etc/atelier",
      "sudo install -o root -g atelier -m 0640 /tmp/atelier.env /etc/atelier/atelier.env",
      "rm -f /tmp/atelier /tmp/atelier.service /tmp/atelier-network.conf /tmp/atelier.env",
      "sudo systemctl daemon-reload",
      "sudo systemctl enable atelier",
    ]
  }
}
