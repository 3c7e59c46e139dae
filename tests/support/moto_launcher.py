#!/usr/bin/env python3
"""Start moto's server (the local AWS emulator of the tests) with three documented corrections.
Nothing else is changed; fleetform's code never bends to moto.

1. (MOTO.md, item 1) moto stores the UserData of create_launch_template_version unwrapped,
   and every later launch from such a version fails with HTTP 500. AWS accepts and launches it.
   Here the version's UserData is wrapped the way moto's own create_launch_template does.

2. (found by the plan benchmark; MOTO.md item 5 saw part of it) describe_launch_templates and
   describe_launch_template_versions return at most 15 items (or MaxResults) and never a
   NextToken, so with more templates in a region the rest silently vanishes. AWS pages them with
   NextToken. Here both answer page by page with a NextToken, as AWS does.

3. (MOTO.md, item 3) update_auto_scaling_group without a MixedInstancesPolicy (or launch
   template) erases the group's policy; on AWS an update changes only what it names (a rolling
   update changes sizes only). Here an update that names no launch configuration, template or
   policy keeps the group's own.

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

from moto.ec2.responses.launch_templates import LaunchTemplates  # noqa: E402
from moto.core.responses import ActionResult  # noqa: E402


def _page(self, items):
    size = self._get_int_param("MaxResults") or 100
    token = self._get_param("NextToken")
    start = int(token) if token else 0
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


def describe_launch_templates(self):
    templates = self.ec2_backend.describe_launch_templates(
        template_names=self._get_param("LaunchTemplateNames", []),
        template_ids=self._get_param("LaunchTemplateIds", []),
        filters=self._filters_from_querystring(),
    )
    page, token = _page(self, templates)
    result = {
        "LaunchTemplates": [
            {
                "CreateTime": t.create_time,
                "CreatedBy": f"arn:{self.partition}:iam::{self.current_account}:root",
                "DefaultVersionNumber": t.default_version_number,
                "LatestVersionNumber": t.latest_version_number,
                "LaunchTemplateId": t.id,
                "LaunchTemplateName": t.name,
                "Tags": t.tags,
            }
            for t in page
        ]
    }
    if token:
        result["NextToken"] = token
    return ActionResult(result)


def describe_launch_template_versions(self):
    versions = self.ec2_backend.describe_launch_template_versions(
        template_name=self._get_param("LaunchTemplateName"),
        template_id=self._get_param("LaunchTemplateId"),
        versions=self._get_param("Versions", []),
        min_version=self._get_int_param("MinVersion"),
        max_version=self._get_int_param("MaxVersion"),
        max_results=10**6,
    )
    page, token = _page(self, versions)
    result = {
        "LaunchTemplateVersions": [
            {
                "CreateTime": v.create_time,
                "CreatedBy": f"arn:{self.partition}:iam::{self.current_account}:root",
                "DefaultVersion": t.is_default(v),
                "LaunchTemplateData": v.data,
                "LaunchTemplateId": t.id,
                "LaunchTemplateName": t.name,
                "VersionDescription": v.description,
                "VersionNumber": v.number,
            }
            for t, v in page
        ]
    }
    if token:
        result["NextToken"] = token
    return ActionResult(result)


LaunchTemplates.describe_launch_templates = describe_launch_templates
LaunchTemplates.describe_launch_template_versions = describe_launch_template_versions

from moto.autoscaling.models import FakeAutoScalingGroup  # noqa: E402

_update = FakeAutoScalingGroup.update


def update(self, *args, **kwargs):
    names_launch = any(kwargs.get(k) for k in ("launch_config_name", "launch_template", "mixed_instances_policy"))
    saved = {k: v for k, v in vars(self).items() if "launch" in k or "mixed" in k}
    _update(self, *args, **kwargs)
    if not names_launch:
        vars(self).update(saved)


FakeAutoScalingGroup.update = update

from moto.server import main  # noqa: E402  (after the corrections)

main(sys.argv[1:])
