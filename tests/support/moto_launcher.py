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

4. (MOTO.md, item 11) describe_cluster of EKS answers no
   resourcesVpcConfig.clusterSecurityGroupId; AWS creates that security group with every cluster
   ("eks-cluster-sg-<name>-…", in the cluster's VPC) and always reports it. Here create_cluster
   creates it the same way in the emulated EC2 of the cluster's region and reports its id.

5. (MOTO.md, item 12) AWS's public SSM parameters of the EKS-optimized images
   (/aws/service/eks/optimized-ami/<version>/amazon-linux-2023/<arch>/standard/recommended/image_id)
   and of Bottlerocket (/aws/service/bottlerocket/aws-k8s-<version>/<arch>/latest/image_id) are
   absent, and moto refuses any put under /aws (as AWS does). A stand-in, written from the
   parameter paths AWS documents, answers them: every version from 1.28 to 1.35 and both
   architectures hold ami-760aaa0f (an image moto has in every region), unless the JSON file
   named by FLEETFORM_PUBLIC_PARAMETERS (written by the tests and the demo, to publish a new
   image release) says otherwise for a name ("name": value) or for a name in one region
   ("<region>:name": value). Only names under those two prefixes are touched.

6. (found by the race test of two concurrent applies, on a loaded machine) S3 PutObject with
   `If-None-Match: *` checks that the key is absent and stores the object in two steps with
   nothing in between held, so two conditional writes arriving together can both succeed (the
   second overwriting the first). AWS makes a conditional write atomic: exactly one succeeds,
   the other gets 412. Here PutObject runs under one lock, so the check and the write are one.

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

# 4. EKS: the cluster security group.
from moto.eks.models import Cluster  # noqa: E402
from moto.ec2.models import ec2_backends  # noqa: E402

_cluster_init = Cluster.__init__


def cluster_init(self, name, role_arn, resources_vpc_config, account_id, region_name, *args, **kwargs):
    _cluster_init(self, name, role_arn, resources_vpc_config, account_id, region_name, *args, **kwargs)
    ec2 = ec2_backends[account_id][region_name]
    subnets = (resources_vpc_config or {}).get("subnetIds") or []
    vpc = ec2.get_subnet(subnets[0]).vpc_id if subnets else None
    sg = ec2.create_security_group(
        name=f"eks-cluster-sg-{name}-{abs(hash(name)) % 10**10}",
        description="EKS created security group applied to ENI that is attached to EKS Control Plane master nodes, as well as any managed workloads.",
        vpc_id=vpc,
        tags={f"kubernetes.io/cluster/{name}": "owned", "aws:eks:cluster-name": name},
    )
    self.resources_vpc_config = dict(resources_vpc_config or {}, clusterSecurityGroupId=sg.id, vpcId=vpc)


Cluster.__init__ = cluster_init

# 5. AWS's public SSM parameters of the EKS-optimized and Bottlerocket images.
import json  # noqa: E402
import os  # noqa: E402

from moto.core.utils import utcnow  # noqa: E402
from moto.ssm.models import Parameter, ParameterDict  # noqa: E402

PUBLIC_PREFIXES = ("/aws/service/eks/optimized-ami/", "/aws/service/bottlerocket/")


def public_parameters(region):
    out = {}
    for minor in range(28, 36):
        for arch in ("x86_64", "arm64"):
            v = f"1.{minor}"
            out[f"/aws/service/eks/optimized-ami/{v}/amazon-linux-2023/{arch}/standard/recommended/image_id"] = "ami-760aaa0f"
            out[f"/aws/service/bottlerocket/aws-k8s-{v}/{arch}/latest/image_id"] = "ami-760aaa0f"
    path = os.environ.get("FLEETFORM_PUBLIC_PARAMETERS")
    if path and os.path.exists(path):
        with open(path) as f:
            published = json.load(f)
        # "name": value for every region; "<region>:name": value for one (wins).
        out.update({k: v for k, v in published.items() if k.startswith("/")})
        out.update({k.split(":", 1)[1]: v for k, v in published.items() if k.startswith(f"{region}:/")})
    return out


_check_loading_status = ParameterDict._check_loading_status


def check_loading_status(self, key):
    _check_loading_status(self, key)
    key = str(key or "")
    if not key.startswith(PUBLIC_PREFIXES):
        return
    value = public_parameters(self.region_name).get(key)
    if value is None:
        return
    versions = dict.get(self, key) or []
    if versions and versions[-1].value == value:
        return
    dict.setdefault(self, key, []).append(
        Parameter(account_id=self.account_id, name=key, value=value, parameter_type="String", description=None,
                  allowed_pattern=None, keyid=None, last_modified_date=utcnow(), version=len(versions) + 1,
                  data_type="aws:ec2:image")
    )


ParameterDict._check_loading_status = check_loading_status

# 6. S3: a conditional PutObject is atomic.
import threading  # noqa: E402

from moto.s3.responses import S3Response  # noqa: E402

_put_object = S3Response.put_object
_s3_put_lock = threading.Lock()


def put_object(self, *args, **kwargs):
    with _s3_put_lock:
        return _put_object(self, *args, **kwargs)


S3Response.put_object = put_object

from moto.server import main  # noqa: E402  (after the corrections)

main(sys.argv[1:])
