#!/usr/bin/env python3
"""Start moto's server (the local AWS emulator of the tests) with one documented correction.

Correction (MOTO.md, item 1): moto stores the UserData of create_launch_template_version
unwrapped, and every later launch from such a version fails with HTTP 500. AWS accepts and
launches it. Here the version's UserData is wrapped the way moto's own create_launch_template
does, before the version is stored. Nothing else is changed; fleetform's code never bends to
moto.

Usage: moto_launcher.py -H 127.0.0.1 -p PORT   (the arguments of moto_server)
"""
import sys

from moto.ec2.models.launch_templates import LaunchTemplate
from moto.ec2.utils import parse_user_data

_create_version = LaunchTemplate.create_version


def create_version(self, data, description):
    if isinstance(data.get("UserData"), str):
        data = dict(data, UserData=parse_user_data(data["UserData"]))
    return _create_version(self, data, description)


LaunchTemplate.create_version = create_version

from moto.server import main  # noqa: E402  (after the correction)

main(sys.argv[1:])
