#!/usr/bin/env python3
"""Start moto's server (the local AWS emulator of the tests) with documented corrections (1-6, 12-14, 16) and
stand-ins for what moto lacks (7-11: EKS APIs; 15: Auto Scaling's scaling activities). Nothing else is changed;
fleetform's code never bends to moto.

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

7. (EKS stand-in) On AWS a new cluster is CREATING for minutes, then ACTIVE; CreateCluster takes
   accessConfig (authenticationMode, CONFIG_MAP when absent as the API reference says;
   bootstrapClusterCreatorAdminPermissions, true when absent) and DescribeCluster reports it, with
   resourcesVpcConfig.endpointPublicAccess (default true), endpointPrivateAccess (false) and
   publicAccessCidrs (["0.0.0.0/0"]). moto's cluster is ACTIVE at once and has none of these. Here a
   cluster (and every update or add-on below) is CREATING/UPDATING for FLEETFORM_EKS_SETTLE_SECONDS
   (read at launch, default 1.0), settled lazily whenever it is read or acted upon; the access
   config and AWS's endpoint defaults are stored and reported (on top of correction 4). With an
   API authentication mode and the bootstrap flag, the creator's identity
   (arn:aws:iam::<account>:root) gets a STANDARD access entry, as AWS gives one to the creator.

8. (EKS stand-in) AWS's UpdateClusterConfig makes exactly one kind of update per request
   (else InvalidParameterException "Only one type of update can be allowed."), refuses a cluster
   that is not ACTIVE (ResourceInUseException), and returns an update (InProgress) whose change is
   applied when it completes: endpoint access (merged into resourcesVpcConfig, subnets kept; a
   request that changes nothing is refused), logging (merged per log type) or
   accessConfig.authenticationMode (only CONFIG_MAP -> API_AND_CONFIG_MAP -> API). moto's replaces
   resourcesVpcConfig and logging wholesale (losing the subnets), at once, and answers the cluster
   instead of an update. Here it behaves as on AWS: EndpointAccessUpdate, LoggingUpdate or
   AccessConfigUpdate, the cluster UPDATING until the change lands. Other kinds are refused.

9. (EKS stand-in) UpdateClusterVersion, DescribeUpdate and ListUpdates are absent from moto. AWS
   upgrades one minor version at a time (else InvalidParameterException "Unsupported Kubernetes
   minor version update from X to Y"), only an ACTIVE cluster (ResourceInUseException), and the
   cluster reports UPDATING and its old version until the VersionUpdate completes. Here the same,
   and DescribeUpdate/ListUpdates answer every update of 8, 9 and 11 (of an add-on with addonName).

10. (EKS stand-in) Access entries (Create/Describe/List/DeleteAccessEntry) are absent from moto.
   Here, as in the API reference: only with authenticationMode API or API_AND_CONFIG_MAP
   (InvalidRequestException), type STANDARD by default, a node type needs an IAM role, EC2_LINUX and
   EC2_WINDOWS take no kubernetesGroups and get the username system:node:{{EC2PrivateDNSName}}, a
   STANDARD entry's default username is the user's ARN or the role's assumed-role ARN; a duplicate
   is ResourceInUseException, a missing one ResourceNotFoundException; creating or deleting one
   while the cluster is not ACTIVE is ResourceInUseException. Their tags (and add-ons') are
   reachable through moto's TagResource/UntagResource/ListTagsForResource.

11. (EKS stand-in) Managed add-ons (DescribeAddonVersions, Create/Describe/List/Update/DeleteAddon)
   are absent from moto. Here a small catalogue (ADDONS below: vpc-cni, coredns, kube-proxy for
   Kubernetes 1.28-1.35, with AWS's field names) answers DescribeAddonVersions; an add-on is
   created at the default version for the cluster's version unless given one, which must be
   compatible with the cluster's current version (InvalidParameterException, on update too); an
   existing one is ResourceInUseException; CREATING or UPDATING (an AddonUpdate) until it settles;
   creating or updating one while the cluster is not ACTIVE is ResourceInUseException. Not
   modelled: on AWS an add-on that needs nodes (coredns) stays CREATING, then DEGRADED, until
   nodes join; here every add-on settles to ACTIVE.

12. (found by the adoption test) DescribeLaunchTemplates answers the tags a template had when it
   was created: moto keeps a copy made then, so tags added later with CreateTags (adopting a
   template kops made) never show, although DescribeTags has them. AWS answers the tags as they
   are. Here a template's tags are read from the tag store at each answer.

13. (found by the NodeGroup maxInstanceLifetime field of fleetform) moto's Auto Scaling ignores
   MaxInstanceLifetime of CreateAutoScalingGroup and UpdateAutoScalingGroup and never reports it.
   AWS stores it (seconds: 0, or 86400 to 31536000, else ValidationError), keeps it through an
   update that does not name it, clears it with 0, and DescribeAutoScalingGroups answers it in
   each group while it is set. Here the same: both calls check and store it on the group, which
   moto's serializer then answers as MaxInstanceLifetime (absent while unset).

14. (found with two node groups each scheduling fleetform-up-0) moto keys scheduled actions by
   name alone in a region, so putting an action on one group replaces the action of that name on
   every other group, which DescribeScheduledActions then no longer answers and
   DeleteScheduledAction cannot delete; describe answers no ScheduledActionARN, and deleting a
   group leaves its actions behind. On AWS a scheduled action's name is unique within its group:
   PutScheduledUpdateGroupAction (and BatchPut...) creates or updates the action of that name in
   that group, DescribeScheduledActions answers that group's actions (every group's without
   AutoScalingGroupName; ScheduledActionNames filters either way), DeleteScheduledAction (and
   BatchDelete...) names group and action, each action has a ScheduledActionARN
   (arn:aws:autoscaling:<region>:<account>:scheduledUpdateGroupAction:<uuid>:autoScalingGroupName/
   <group>:scheduledActionName/<name>), and DeleteAutoScalingGroup deletes the group's actions.
   Here actions are keyed by (group, name), get such an ARN (kept when the action is updated), and
   go with their group. StartTime and EndTime (ISO 8601, UTC), Recurrence, TimeZone, MinSize,
   MaxSize and DesiredCapacity are answered as put, as moto already did. Not modelled: AWS answers
   a recurring action's StartTime (and the unused Time) as its next run, and refuses a StartTime in
   the past and an action on a group that does not exist; here StartTime is answered as put (absent
   if it was not put) and both are accepted.

15. (stand-in) moto's DescribeScalingActivities always answers an empty list: it keeps no
   history, and its launches never fail. AWS answers the group's scaling activities (the account's
   without AutoScalingGroupName, only those named when ActivityIds is given), those in progress
   first, then newest first by StartTime, MaxRecords (1-100, default 100) a page, with NextToken. A
   launch that failed for capacity is an activity with StatusCode "Failed", StatusMessage "We
   currently do not have sufficient <type> capacity in the Availability Zone you requested
   (<zone>). Our system will be working on provisioning additional capacity. You can currently get
   <type> capacity by not specifying an Availability Zone in your request or choosing <zones>.
   Launching EC2 instance failed.", Description "Launching a new EC2 instance.  Status Reason:
   <StatusMessage>", Cause "At <time> an instance was started in response to a difference between
   desired and actual capacity, increasing the capacity from <n> to <n+1>.", Progress 100 and
   Details '{"Subnet ID":"subnet-...","Availability Zone":"<zone>"}'. A stand-in answers
   the activities of the JSON file named by FLEETFORM_SCALING_ACTIVITIES (read at each request;
   unset or missing: none), which the tests and the demo write to simulate what AWS reports: a list
   of objects with the field names of the API's Activity (AutoScalingGroupName and StartTime, an ISO
   8601 string, required; ActivityId defaults to a UUID made from the object, the same at every
   request; Details may be an object, answered as its JSON), filtered, ordered and paged as on AWS.

16. (MOTO.md, item 4) moto launches every instance of a group into the first subnet of its
   VPCZoneIdentifier (a group with zones but no subnets: each launch into one zone drawn at random),
   and a scale-in terminates the first unprotected instances of the group's list, whatever their
   zone. AWS keeps a group balanced across its enabled Availability Zones: it launches into the zone
   with the fewest of the group's instances, and a scale-in terminates from the zone with the most
   (among those with an instance not protected from scale in), then as the termination policy says
   (by default: oldest launch template or configuration, then closest to the next billing hour).
   Here, in a group over two zones or more, each new instance goes to the zone with the fewest of
   the group's InService instances (ties: the order of VPCZoneIdentifier, else of
   AvailabilityZones), into that zone's first subnet in VPCZoneIdentifier, so the instance's
   SubnetId and Placement.AvailabilityZone are that subnet's; a scale-in removes instances one at a
   time from the zone with the most (ties: the zone of the oldest candidate), there the one moto
   would choose (the earliest to have joined the group); the group lists its instances in the order
   they joined. A group in one zone behaves as in moto. Not modelled: AZRebalance (on AWS, unless
   that process is suspended, a group whose zones were changed or unbalanced by AttachInstances or
   DetachInstances is rebalanced); here nothing moves, which lets a test make a skewed group on
   purpose (AttachInstances keeps an instance in its own zone).

17. (for benchmarks) moto's group instances are InService the moment they are launched; on AWS an
   instance is Pending for the minute or more it takes to boot and pass its health check, and a
   rolling update spends most of its time waiting for that. With FLEETFORM_START_DELAY set (seconds,
   e.g. 5), an instance a group launches is answered Pending (LifecycleState) for that long after
   its launch, then InService; unset (the tests), instances start at once as in moto.

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


def _ec2_page(self, items):  # (its own name: the EKS stand-in below has a _page of its own)
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
    page, token = _ec2_page(self, templates)
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
    page, token = _ec2_page(self, versions)
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
import random  # noqa: E402

from moto.eks.models import Cluster  # noqa: E402
from moto.ec2.models import ec2_backends  # noqa: E402

_cluster_init = Cluster.__init__


def cluster_init(self, name, role_arn, resources_vpc_config, account_id, region_name, *args, **kwargs):
    _cluster_init(self, name, role_arn, resources_vpc_config, account_id, region_name, *args, **kwargs)
    ec2 = ec2_backends[account_id][region_name]
    subnets = (resources_vpc_config or {}).get("subnetIds") or []
    vpc = ec2.get_subnet(subnets[0]).vpc_id if subnets else None
    sg = ec2.create_security_group(
        # A suffix of its own per cluster, as AWS gives: a cluster deleted and made again under
        # the same name gets a new group.
        name=f"eks-cluster-sg-{name}-{random.randrange(10**10):010d}",
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

# 7-11. EKS: a cluster that settles over time; UpdateClusterConfig, UpdateClusterVersion and their
# updates; access entries; managed add-ons (stand-ins written from the EKS API reference).
import copy  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

from moto.core.responses import EmptyResult  # noqa: E402
from moto.eks import urls as eks_urls  # noqa: E402
from moto.eks.exceptions import (  # noqa: E402
    InvalidParameterException, InvalidRequestException, ResourceInUseException, ResourceNotFoundException)
from moto.eks.models import EKSBackend  # noqa: E402
from moto.eks.responses import EKSResponse  # noqa: E402

EKS_SETTLE = float(os.environ.get("FLEETFORM_EKS_SETTLE_SECONDS", "1.0"))
LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
AUTH_MODES = ["CONFIG_MAP", "API_AND_CONFIG_MAP", "API"]  # AWS moves only forward along this list
ENTRY_TYPES = ["STANDARD", "EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "EC2", "HYBRID_LINUX", "HYPERPOD_LINUX"]


def _minors(lo, hi):
    return [f"1.{m}" for m in range(lo, hi + 1)]


# Add-on catalogue: name -> [(version, compatible Kubernetes versions, versions it is the default of)], newest first.
ADDONS = {
    "vpc-cni": [("v1.19.2-eksbuild.1", _minors(28, 35), _minors(28, 35))],
    "coredns": [("v1.11.4-eksbuild.2", _minors(31, 35), _minors(32, 35)),
                ("v1.11.3-eksbuild.1", _minors(29, 31), _minors(30, 31)),
                ("v1.10.1-eksbuild.13", _minors(28, 29), _minors(28, 29))],
    "kube-proxy": [(f"v1.{m}.0-eksbuild.1", [f"1.{m}"], [f"1.{m}"]) for m in range(35, 27, -1)],
}


def _begin(obj, status, apply=None, update=None):
    """obj (a cluster or an add-on) shows status for EKS_SETTLE seconds; then apply() runs, update succeeds, ACTIVE."""
    obj.status, obj._due, obj._apply, obj._update = status, time.monotonic() + EKS_SETTLE, apply, update


def _settle(obj):
    if getattr(obj, "_due", None) is not None and time.monotonic() >= obj._due:
        obj._due = None
        if obj._apply:
            obj._apply()
        if obj._update:
            obj._update["status"] = "Successful"
        obj.status = "ACTIVE"
    return obj


def _new_update(kind, params):
    return {"id": str(uuid.uuid4()), "status": "InProgress", "type": kind, "createdAt": utcnow(), "errors": [],
            "params": [{"type": t, "value": v} for t, v in params]}


def _page(self, items):  # EKS's maxResults / nextToken (an opaque token: here the offset)
    size, start = self._get_int_param("maxResults") or 100, int(self._get_param("nextToken") or 0)
    return items[start:start + size], (str(start + size) if start + size < len(items) else None)


def _busy(c, kind):  # AWS: one update at a time, none while creating
    if c.status != "ACTIVE":
        raise ResourceInUseException(clusterName=c.name, message=f"Cannot {kind} because cluster {c.name} currently has "
                                     f"{'update' if c.status == 'UPDATING' else 'creation'} in progress")


_cluster_init4 = Cluster.__init__  # (with correction 4)


def cluster_init7(self, *args, **kwargs):
    _cluster_init4(self, *args, **kwargs)
    # AWS's defaults: public endpoint open to all, no private endpoint, aws-auth ConfigMap authentication.
    self.resources_vpc_config = {"endpointPublicAccess": True, "endpointPrivateAccess": False,
                                 "publicAccessCidrs": ["0.0.0.0/0"], **self.resources_vpc_config}
    self.logging = copy.deepcopy(self.logging)  # moto shares one default dict among all clusters
    self.access_config = {"authenticationMode": "CONFIG_MAP", "bootstrapClusterCreatorAdminPermissions": True}
    self.updates, self.access_entries, self.addons = {}, {}, {}
    _begin(self, "CREATING")


Cluster.__init__ = cluster_init7
Cluster.is_active = property(lambda self: _settle(self).status == "ACTIVE")
_describe_cluster = EKSBackend.describe_cluster
EKSBackend.describe_cluster = lambda self, name: _settle(_describe_cluster(self, name))
_create_cluster = EKSResponse.create_cluster


def create_cluster(self):
    access = dict({"authenticationMode": "CONFIG_MAP", "bootstrapClusterCreatorAdminPermissions": True},
                  **(self._get_param("accessConfig") or {}))
    if access["authenticationMode"] not in AUTH_MODES:
        raise InvalidParameterException(message=f"Unsupported authentication mode: {access['authenticationMode']}")
    result = _create_cluster(self)
    c = result.result["cluster"]
    c.access_config = access
    # AWS gives the creator's IAM identity an access entry (with cluster-admin) when access entries are in use.
    if access["bootstrapClusterCreatorAdminPermissions"] and access["authenticationMode"] != "CONFIG_MAP":
        _add_entry(c, f"arn:{self.partition}:iam::{self.current_account}:root", "STANDARD", [], None, {})
    return result


def update_cluster_config(self):
    c = self.eks_backend.describe_cluster(self._get_param("name"))
    body = {k: v for k, v in json.loads(self.body or "{}").items() if k != "clientRequestToken" and v is not None}
    kinds = {"resourcesVpcConfig": "EndpointAccessUpdate", "logging": "LoggingUpdate", "accessConfig": "AccessConfigUpdate"}
    if len(body) != 1:  # AWS: exactly one kind of update per request
        raise InvalidParameterException(clusterName=c.name, message="Only one type of update can be allowed." if body else "No update specified.")
    (key, req), = body.items()
    if key not in kinds:
        raise InvalidParameterException(clusterName=c.name, message=f"{key} updates are not emulated")
    _busy(c, kinds[key])
    if key == "resourcesVpcConfig":
        keys = ("endpointPublicAccess", "endpointPrivateAccess", "publicAccessCidrs")
        if set(req) - set(keys):
            raise InvalidParameterException(clusterName=c.name, message="only endpoint access updates are emulated")
        new = dict(c.resources_vpc_config, **req)
        if all(new[k] == c.resources_vpc_config[k] for k in keys):  # AWS rejects an update that changes nothing
            raise InvalidParameterException(clusterName=c.name, message=(
                f"Cluster is already at the desired configuration with endpointPrivateAccess: {str(new['endpointPrivateAccess']).lower()} , "
                f"endpointPublicAccess: {str(new['endpointPublicAccess']).lower()}, and Public Endpoint Restrictions: [{', '.join(new['publicAccessCidrs'])}]"))
        params = [(k[0].upper() + k[1:], json.dumps(req[k]) if k == "publicAccessCidrs" else str(req[k]).lower()) for k in keys if k in req]
        apply = lambda: setattr(c, "resources_vpc_config", new)  # noqa: E731
    elif key == "logging":  # merged per log type into what is enabled
        enabled = {t for s in c.logging["clusterLogging"] if s.get("enabled") for t in s["types"]}
        for s in req.get("clusterLogging", []):
            if set(s.get("types", [])) - set(LOG_TYPES):
                raise InvalidParameterException(clusterName=c.name, message=f"Unknown log types {s['types']}; valid: {LOG_TYPES}")
            enabled = enabled | set(s["types"]) if s.get("enabled") else enabled - set(s["types"])
        groups = [{"types": [t for t in LOG_TYPES if (t in enabled) == on], "enabled": on} for on in (True, False)]
        new = {"clusterLogging": [g for g in groups if g["types"]]}
        params = [("ClusterLogging", json.dumps(req))]
        apply = lambda: setattr(c, "logging", new)  # noqa: E731
    else:
        cur, mode = c.access_config["authenticationMode"], req.get("authenticationMode")
        if mode not in AUTH_MODES or AUTH_MODES.index(mode) <= AUTH_MODES.index(cur):
            raise InvalidParameterException(clusterName=c.name, message=f"Unsupported authentication mode update from {cur} to {mode}")
        params = [("AuthenticationMode", mode)]
        apply = lambda: c.access_config.update(authenticationMode=mode)  # noqa: E731
    update = _new_update(kinds[key], params)
    c.updates[update["id"]] = update
    _begin(c, "UPDATING", apply, update)
    return ActionResult({"update": update})


def update_cluster_version(self):
    c = self.eks_backend.describe_cluster(self._get_param("name"))
    version = str(self._get_param("version"))
    _busy(c, "VersionUpdate")
    cur = [int(x) for x in c.version.split(".")]
    if version != f"{cur[0]}.{cur[1] + 1}":  # AWS: one minor version at a time
        raise InvalidParameterException(clusterName=c.name, message=f"Unsupported Kubernetes minor version update from {c.version} to {version}")
    update = _new_update("VersionUpdate", [("Version", version), ("PlatformVersion", "eks.1")])
    c.updates[update["id"]] = update

    def apply():
        c.version, c.platformVersion = version, "eks.1"

    _begin(c, "UPDATING", apply, update)  # the old version is reported until the update completes
    return ActionResult({"update": update})


def _update_owner(self):  # DescribeUpdate / ListUpdates: the cluster's updates, or an add-on's (addonName)
    c = self.eks_backend.describe_cluster(self._get_param("name"))
    return _addon(c, self._get_param("addonName")) if self._get_param("addonName") else c


def describe_update(self):
    update = _update_owner(self).updates.get(self._get_param("updateId"))
    if not update:
        raise ResourceNotFoundException(message=f"No update found for ID: {self._get_param('updateId')}")
    return ActionResult({"update": update})


def list_updates(self):
    page, token = _page(self, list(_update_owner(self).updates))
    return ActionResult({"updateIds": page, "nextToken": token})


def _add_entry(c, arn, kind, groups, username, tags):
    _, part, _, region, account, _ = c.arn.split(":", 5)
    principal_account, resource = arn.split(":")[4], arn.split(":", 5)[5]
    rtype, name = resource.split("/")[0], resource.split("/")[-1]
    if kind in ("EC2_LINUX", "EC2_WINDOWS", "EC2"):
        username = "system:node:{{EC2PrivateDNSName}}"
    elif kind != "STANDARD":
        username = "system:node:{{SessionName}}"
    elif not username:  # AWS: a user's ARN; a role's assumed-role ARN (without path) and {{SessionName}}
        username = f"arn:{part}:sts::{principal_account}:assumed-role/{name}/{{{{SessionName}}}}" if rtype == "role" else arn
    now = utcnow()
    c.access_entries[arn] = {
        "clusterName": c.name, "principalArn": arn, "kubernetesGroups": groups or [], "username": username, "type": kind,
        "accessEntryArn": f"arn:{part}:eks:{region}:{account}:access-entry/{c.name}/{rtype}/{principal_account}/{name}/{uuid.uuid4()}",
        "createdAt": now, "modifiedAt": now, "tags": tags or {}}


def _entries(self):  # AWS: access entries only with the API authentication modes
    c = self.eks_backend.describe_cluster(self._get_param("name"))
    if c.access_config["authenticationMode"] == "CONFIG_MAP":
        raise InvalidRequestException(clusterName=c.name, message="The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.")
    return c


def _entry(self):
    c, arn = _entries(self), self._get_param("principalArn")
    if arn not in c.access_entries:
        raise ResourceNotFoundException(clusterName=c.name, message="The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'.")
    return c, arn


def create_access_entry(self):
    c = _entries(self)
    _busy(c, "CreateAccessEntry")
    arn, kind, groups, username = (self._get_param(k) for k in ("principalArn", "type", "kubernetesGroups", "username"))
    kind = kind or "STANDARD"
    if kind not in ENTRY_TYPES:
        raise InvalidParameterException(clusterName=c.name, message=f"The type must be one of {ENTRY_TYPES}")
    if kind != "STANDARD" and ":role/" not in (arn or ""):
        raise InvalidParameterException(clusterName=c.name, message=f"The principalArn of a {kind} access entry must be an IAM role.")
    if kind in ("EC2_LINUX", "EC2_WINDOWS") and groups:
        raise InvalidParameterException(clusterName=c.name, message=f"kubernetesGroups can't be specified for an access entry of type {kind}.")
    if username and username.startswith(("system:", "eks:", "aws:", "amazon:", "iam:")):
        raise InvalidParameterException(clusterName=c.name, message=f"The username {username} can't start with system:, eks:, aws:, amazon: or iam:.")
    if arn in c.access_entries:
        raise ResourceInUseException(clusterName=c.name, message="The specified access entry resource is already in use on this cluster.")
    _add_entry(c, arn, kind, groups, username, self._get_param("tags"))
    return ActionResult({"accessEntry": c.access_entries[arn]})


def describe_access_entry(self):
    c, arn = _entry(self)
    return ActionResult({"accessEntry": c.access_entries[arn]})


def list_access_entries(self):
    page, token = _page(self, list(_entries(self).access_entries))
    return ActionResult({"accessEntries": page, "nextToken": token})


def delete_access_entry(self):
    c, arn = _entry(self)
    _busy(c, "DeleteAccessEntry")
    del c.access_entries[arn]
    return EmptyResult()


class EksAddon:  # attributes named as the API's Addon fields
    def __init__(self, **fields):
        vars(self).update(fields)


def _addon_version(c, name, version):  # the version asked for (or the default) if compatible with c.version
    if name not in ADDONS:
        raise InvalidParameterException(clusterName=c.name, addonName=name, message=f"Addon {name} specified is not supported")
    for v, compatible, defaults in ADDONS[name]:
        if (v == version and c.version in compatible) or (not version and c.version in defaults):
            return v
    raise InvalidParameterException(clusterName=c.name, addonName=name, message=(
        "Addon version specified is not supported" if version else f"Addon {name} specified is not supported in {c.version} kubernetes version"))


def _addon(c, name):
    if name not in c.addons:
        raise ResourceNotFoundException(clusterName=c.name, addonName=name, message=f"No addon: {name} found in cluster: {c.name}")
    return _settle(c.addons[name])


def describe_addon_versions(self):
    kv, only = self._get_param("kubernetesVersion"), self._get_param("addonName")
    out = []
    for name, versions in ADDONS.items():
        infos = [{"addonVersion": v, "architecture": ["amd64", "arm64"], "requiresConfiguration": False,
                  "compatibilities": [{"clusterVersion": k, "platformVersions": ["*"], "defaultVersion": k in defaults}
                                      for k in compatible if not kv or k == kv]} for v, compatible, defaults in versions]
        infos = [i for i in infos if i["compatibilities"]]
        if infos and (not only or only == name):
            out.append({"addonName": name, "type": "networking", "addonVersions": infos, "owner": "aws", "publisher": "eks"})
    page, token = _page(self, out)
    return ActionResult({"addons": page, "nextToken": token})


def create_addon(self):
    c = self.eks_backend.describe_cluster(self._get_param("name"))
    _busy(c, "CreateAddon")
    name = self._get_param("addonName")
    version = _addon_version(c, name, self._get_param("addonVersion"))
    if name in c.addons:
        raise ResourceInUseException(clusterName=c.name, addonName=name, message="Addon already exists.")
    _, part, _, region, account, _ = c.arn.split(":", 5)
    now = utcnow()
    c.addons[name] = addon = EksAddon(
        addonName=name, clusterName=c.name, addonVersion=version, health={"issues": []}, createdAt=now, modifiedAt=now,
        addonArn=f"arn:{part}:eks:{region}:{account}:addon/{c.name}/{name}/{uuid.uuid4()}", tags=self._get_param("tags") or {},
        updates={})
    _begin(addon, "CREATING")
    return ActionResult({"addon": addon})


def describe_addon(self):
    return ActionResult({"addon": _addon(self.eks_backend.describe_cluster(self._get_param("name")), self._get_param("addonName"))})


def list_addons(self):
    page, token = _page(self, list(self.eks_backend.describe_cluster(self._get_param("name")).addons))
    return ActionResult({"addons": page, "nextToken": token})


def update_addon(self):
    c = self.eks_backend.describe_cluster(self._get_param("name"))
    _busy(c, "UpdateAddon")
    addon = _addon(c, self._get_param("addonName"))
    if addon.status != "ACTIVE":
        raise ResourceInUseException(clusterName=c.name, addonName=addon.addonName, message=f"Addon {addon.addonName} is {addon.status}, not ACTIVE")
    version = _addon_version(c, addon.addonName, self._get_param("addonVersion") or addon.addonVersion)  # vs. the current version
    conflicts = self._get_param("resolveConflicts")
    update = _new_update("AddonUpdate", [("AddonVersion", version)] + ([("ResolveConflicts", conflicts)] if conflicts else []))
    addon.updates[update["id"]] = update

    def apply():
        addon.addonVersion, addon.modifiedAt = version, utcnow()

    _begin(addon, "UPDATING", apply, update)
    return ActionResult({"update": update})


def delete_addon(self):
    c = self.eks_backend.describe_cluster(self._get_param("name"))
    addon = _addon(c, self._get_param("addonName"))
    del c.addons[addon.addonName]
    addon.status = "DELETING"
    return ActionResult({"addon": addon})


for _f in (create_cluster, update_cluster_config, update_cluster_version, describe_update, list_updates,
           create_access_entry, describe_access_entry, list_access_entries, delete_access_entry,
           describe_addon_versions, create_addon, describe_addon, list_addons, update_addon, delete_addon):
    setattr(EKSResponse, _f.__name__, _f)


def _tags_of(backend, arn):  # tags of an access entry or an add-on (moto's own tag calls know clusters only)
    for c in backend.clusters.values():
        for tags, own in [(e["tags"], e["accessEntryArn"]) for e in c.access_entries.values()] + [(a.tags, a.addonArn) for a in c.addons.values()]:
            if own == arn:
                return tags


def _tagging(original, action):
    def method(self, arn, *args):
        tags = _tags_of(self, arn)
        return original(self, arn, *args) if tags is None else action(tags, *args)
    return method


EKSBackend.list_tags_for_resource = _tagging(EKSBackend.list_tags_for_resource, lambda tags: tags)
EKSBackend.tag_resource = _tagging(EKSBackend.tag_resource, lambda tags, new: tags.update(new))
EKSBackend.untag_resource = _tagging(EKSBackend.untag_resource, lambda tags, keys: [tags.pop(k, None) for k in (
    [keys] if isinstance(keys, str) else keys)])

_c = "{0}/clusters/(?P<name>[^/]+)"
eks_urls.url_paths.update({
    _c + "/updates$": eks_urls.response.dispatch,
    _c + "/updates/(?P<updateId>[^/]+)$": eks_urls.response.dispatch,
    _c + "/access-entries$": eks_urls.response.dispatch,
    _c + "/access-entries/(?P<principalArn>.+)$": eks_urls.response.dispatch,  # the ARN arrives decoded, with its '/'
    _c + "/addons$": eks_urls.response.dispatch,
    _c + "/addons/(?P<addonName>[^/]+)$": eks_urls.response.dispatch,
    _c + "/addons/(?P<addonName>[^/]+)/update$": eks_urls.response.dispatch,
    "{0}/addons/supported-versions$": eks_urls.response.dispatch,
})

# 12. EC2: a launch template's tags as they are now.
LaunchTemplate.tags = property(lambda self: self.get_tags(), lambda self, _value: None)

# 13. Auto Scaling: MaxInstanceLifetime.
from moto.autoscaling.exceptions import ValidationError  # noqa: E402
from moto.autoscaling.responses import AutoScalingResponse  # noqa: E402

FakeAutoScalingGroup.max_instance_lifetime = None  # unset: DescribeAutoScalingGroups leaves it out


def _with_lifetime(original):
    def method(self):
        lifetime = self._get_int_param("MaxInstanceLifetime")
        if lifetime and not 86400 <= lifetime <= 31536000:
            raise ValidationError("maxInstanceLifetime must be either equal to 0 or between 86400 and 31536000 seconds "
                                  "(inclusive). A value of 0 is used to remove a previously set value.")
        result = original(self)
        if lifetime is not None:  # not named: kept as it is; 0: cleared
            group = self.autoscaling_backend.autoscaling_groups[self._get_param("AutoScalingGroupName")]
            group.max_instance_lifetime = lifetime or None
        return result
    method.__name__ = original.__name__
    return method


for _name in ("create_auto_scaling_group", "update_auto_scaling_group"):
    setattr(AutoScalingResponse, _name, _with_lifetime(getattr(AutoScalingResponse, _name)))

# 14. Auto Scaling: scheduled actions per group.
from moto.autoscaling.models import AutoScalingBackend, FakeScheduledAction, make_int  # noqa: E402
from moto.utilities.utils import get_partition  # noqa: E402


def put_scheduled_update_group_action(self, name, desired_capacity, max_size, min_size, scheduled_action_name,
                                      start_time, end_time, recurrence, timezone):
    key = (name, scheduled_action_name)  # AWS: a name is unique within its group
    old = self.scheduled_actions.get(key)
    action = FakeScheduledAction(name, make_int(desired_capacity), make_int(max_size), make_int(min_size),
                                 scheduled_action_name, start_time, end_time, recurrence, timezone)
    action.scheduled_action_arn = old.scheduled_action_arn if old else (
        f"arn:{get_partition(self.region_name)}:autoscaling:{self.region_name}:{self.account_id}:scheduledUpdateGroupAction:"
        f"{uuid.uuid4()}:autoScalingGroupName/{name}:scheduledActionName/{scheduled_action_name}")
    self.scheduled_actions[key] = action
    return action


def delete_scheduled_action(self, auto_scaling_group_name, scheduled_action_name):  # (BatchDelete calls this one)
    if self.scheduled_actions.pop((auto_scaling_group_name, scheduled_action_name), None) is None:
        raise ValidationError("Scheduled action name not found")


_delete_auto_scaling_group = AutoScalingBackend.delete_auto_scaling_group


def delete_auto_scaling_group(self, group_name):
    _delete_auto_scaling_group(self, group_name)
    for key in [k for k in self.scheduled_actions if k[0] == group_name]:  # AWS deletes the group's actions with it
        del self.scheduled_actions[key]


AutoScalingBackend.put_scheduled_update_group_action = put_scheduled_update_group_action
AutoScalingBackend.delete_scheduled_action = delete_scheduled_action
AutoScalingBackend.delete_auto_scaling_group = delete_auto_scaling_group

# 15. Auto Scaling: scaling activities (a stand-in: from FLEETFORM_SCALING_ACTIVITIES).
from datetime import datetime, timezone as tz  # noqa: E402

ACTIVITY_DONE = ("Successful", "Failed", "Cancelled")  # every other StatusCode is in progress


def _activity_time(a):
    t = datetime.fromisoformat(str(a["StartTime"]).replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=tz.utc)


def _injected_activities():
    path = os.environ.get("FLEETFORM_SCALING_ACTIVITIES")
    if not path or not os.path.exists(path):
        return []
    with open(path) as f:
        try:
            items = json.load(f)
        except ValueError as e:
            raise ValidationError(f"{path}: not JSON: {e}")
    out = []
    for a in items if isinstance(items, list) else [items]:
        if not isinstance(a, dict) or not a.get("AutoScalingGroupName") or not a.get("StartTime"):
            raise ValidationError(f"{path}: every activity needs AutoScalingGroupName and StartTime: {a}")
        a = dict(a)
        a.setdefault("ActivityId", str(uuid.uuid5(uuid.NAMESPACE_OID, json.dumps(a, sort_keys=True))))
        if not isinstance(a.get("Details", ""), str):
            a["Details"] = json.dumps(a["Details"], separators=(",", ":"))  # as AWS writes it
        try:
            a["_t"] = _activity_time(a)
        except ValueError:
            raise ValidationError(f"{path}: StartTime is not an ISO 8601 time: {a['StartTime']}")
        out.append(a)
    return out


def describe_scaling_activities(self):
    group, ids = self._get_param("AutoScalingGroupName"), self._get_param("ActivityIds", [])
    size, token = self._get_int_param("MaxRecords") or 100, self._get_param("NextToken") or "0"
    if not 1 <= size <= 100:
        raise ValidationError(f"1 validation error detected: Value '{size}' at 'maxRecords' failed to satisfy constraint: "
                              "Member must have value less than or equal to 100")
    if not token.isdigit():
        raise ValidationError("The token provided is not valid.")
    found = [a for a in _injected_activities()
             if (not group or a["AutoScalingGroupName"] == group) and (not ids or a["ActivityId"] in ids)]
    found.sort(key=lambda a: a["_t"], reverse=True)  # newest first,
    found.sort(key=lambda a: a.get("StatusCode") in ACTIVITY_DONE)  # those in progress before (a stable sort)
    start = int(token)
    page = [{k: v for k, v in a.items() if k != "_t"} for a in found[start:start + size]]
    return ActionResult({"Activities": page, "NextToken": str(start + size) if start + size < len(found) else None})


AutoScalingResponse.describe_scaling_activities = describe_scaling_activities

# 16. Auto Scaling: instances balanced across the group's Availability Zones.
import itertools  # noqa: E402

from moto.autoscaling.models import ASG_NAME_TAG, InstanceState  # noqa: E402

_joined = itertools.count()  # the order in which instances join their groups
_instance_state_init = InstanceState.__init__


def instance_state_init(self, *args, **kwargs):
    _instance_state_init(self, *args, **kwargs)
    self.joined = next(_joined)


InstanceState.__init__ = instance_state_init


def _zones(group):
    """{zone: its first subnet of VPCZoneIdentifier (None in a group without subnets)}, in the group's order."""
    if group.vpc_zone_identifier:
        out = {}
        for subnet in group.vpc_zone_identifier.split(","):
            out.setdefault(group.ec2_backend.get_subnet(subnet).availability_zone, subnet)
        return out
    return {zone: None for zone in group.availability_zones or []}


_replace_instances = FakeAutoScalingGroup.replace_autoscaling_group_instances


def replace_autoscaling_group_instances(self, count_needed, propagated_tags):
    zones = _zones(self)
    if len(zones) < 2:
        return _replace_instances(self, count_needed, propagated_tags)
    held = dict.fromkeys(zones, 0)
    for state in self.active_instances():
        if state.instance.placement.zone in held:
            held[state.instance.placement.zone] += 1
    plan = dict.fromkeys(zones, 0)
    for _ in range(count_needed):  # each to the zone with the fewest; min() takes the first of equals
        plan[min(zones, key=lambda z: held[z] + plan[z])] += 1
    propagated_tags[ASG_NAME_TAG] = self.name
    propagated_tags.update(self.instance_tags)
    launch_template = None  # from here as moto's own, with the zone and subnet chosen
    if self.ec2_launch_template:
        if self.ec2_launch_template.id:
            launch_template = {"LaunchTemplateId": self.ec2_launch_template.id}
        elif self.ec2_launch_template.name:
            launch_template = {"LaunchTemplateName": self.ec2_launch_template.name}
    for zone, subnet in zones.items():
        if not plan[zone]:
            continue
        reservation = self.autoscaling_backend.ec2_backend.run_instances(
            self.image_id, plan[zone], self.user_data, self.security_groups, instance_type=self.instance_type,
            tags={"instance": propagated_tags}, placement=zone, launch_config=self.launch_config,
            launch_template=launch_template, is_instance_type_default=False,
            associate_public_ip=self.launch_config.associate_public_ip_address if self.launch_config else None,
            subnet_id=subnet)
        for instance in reservation.instances:
            instance.autoscaling_group = self
            self.instance_states.append(
                InstanceState(instance, protected_from_scale_in=self.new_instances_protected_from_scale_in))


def _termination_order(group):
    """The group's instances, those a scale-in may terminate first, in the order AWS would take them."""
    states = sorted(group.instance_states, key=lambda s: getattr(s, "joined", -1))
    serving = [s for s in states if s.lifecycle_state == "InService"]
    held = {}
    for s in serving:
        held[s.instance.placement.zone] = held.get(s.instance.placement.zone, 0) + 1
    candidates, order = [s for s in serving if not s.protected_from_scale_in], []
    while candidates:  # from the zone with the most; ties: the zone of the oldest candidate
        most = max(held[s.instance.placement.zone] for s in candidates)
        pick = next(s for s in candidates if held[s.instance.placement.zone] == most)
        candidates.remove(pick)
        order.append(pick)
        held[pick.instance.placement.zone] -= 1
    return order + [s for s in states if s not in order]


_set_desired_capacity = FakeAutoScalingGroup.set_desired_capacity


def set_desired_capacity(self, new_capacity):
    if len(_zones(self)) < 2:
        return _set_desired_capacity(self, new_capacity)
    self.instance_states = _termination_order(self)  # moto terminates the first unprotected ones of the list
    try:
        return _set_desired_capacity(self, new_capacity)
    finally:
        self.instance_states.sort(key=lambda s: getattr(s, "joined", -1))


FakeAutoScalingGroup.replace_autoscaling_group_instances = replace_autoscaling_group_instances
FakeAutoScalingGroup.set_desired_capacity = set_desired_capacity

# 17. (for benchmarks) a start delay: Pending for FLEETFORM_START_DELAY seconds after launch.
import os  # noqa: E402
import time  # noqa: E402

_START_DELAY = float(os.environ.get("FLEETFORM_START_DELAY") or 0)
if _START_DELAY > 0:
    def _get_lifecycle(self):
        state = self.__dict__.get("_lifecycle", "InService")
        if state == "InService" and time.monotonic() < self.__dict__.get("_ready_at", 0):
            return "Pending"
        return state

    def _set_lifecycle(self, value):
        self.__dict__["_lifecycle"] = value

    InstanceState.lifecycle_state = property(_get_lifecycle, _set_lifecycle)
    _joined_init = InstanceState.__init__

    def delayed_init(self, *args, **kwargs):
        _joined_init(self, *args, **kwargs)
        self.__dict__["_ready_at"] = time.monotonic() + _START_DELAY

    InstanceState.__init__ = delayed_init

from moto.server import main  # noqa: E402  (after the corrections)

main(sys.argv[1:])
