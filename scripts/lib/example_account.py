#!/usr/bin/env python3
"""Prepare an AWS account (the local emulator) for the bundled example clusters: what fleetform
references but never creates. Usage: example_account.py ENDPOINT

- per cluster, a VPC and one subnet per zone, tagged kubernetes.io/cluster/<cluster>=shared
  (how kops and EKS mark shared subnets; fleetform finds a cluster's subnets by that tag);
- the Route53 hosted zone k8s.foo.bar;
- the state-store bucket foo-bar-fleet-state (locks and audit trail);
- the node instance profile eks-node (its role is what EKS lets join);
- per cluster, its EKS control plane (named after the cluster, dots as dashes), Kubernetes 1.31,
  authentication mode API_AND_CONFIG_MAP (nodes join by access entries); waits until ACTIVE.
"""
import json
import sys
import time

import boto3

ep = sys.argv[1]
assert ep.startswith("http://127.0.0.1:") or ep.startswith("http://localhost:"), "loopback only"


iam = boto3.client("iam", endpoint_url=ep, region_name="us-east-1")
trust = lambda service: json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})
cluster_role = iam.create_role(RoleName="eks-cluster", AssumeRolePolicyDocument=trust("eks.amazonaws.com"))["Role"]["Arn"]
iam.create_role(RoleName="eks-node", AssumeRolePolicyDocument=trust("ec2.amazonaws.com"))
iam.create_instance_profile(InstanceProfileName="eks-node")
iam.add_role_to_instance_profile(InstanceProfileName="eks-node", RoleName="eks-node")


def net(region, cluster, zones):
    c = boto3.client("ec2", endpoint_url=ep, region_name=region)
    vpc = c.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = []
    for i, z in enumerate(zones):
        subnets.append(c.create_subnet(
            VpcId=vpc,
            CidrBlock=f"10.0.{i * 32}.0/19",
            AvailabilityZone=z,
            TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": f"kubernetes.io/cluster/{cluster}", "Value": "shared"}]}],
        )["Subnet"]["SubnetId"])
    boto3.client("eks", endpoint_url=ep, region_name=region).create_cluster(
        name=cluster.replace(".", "-"), version="1.31", roleArn=cluster_role, resourcesVpcConfig={"subnetIds": subnets},
        kubernetesNetworkConfig={"serviceIpv4Cidr": "172.20.0.0/16"},
        accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"},  # nodes may join by access entries
    )
    return region, cluster.replace(".", "-")


clusters = [
    net("eu-west-3", "prod-customer.k8s.foo.bar", ["eu-west-3a", "eu-west-3b", "eu-west-3c"]),
    net("eu-west-1", "staging.k8s.foo.bar", ["eu-west-1a", "eu-west-1b"]),
]
boto3.client("route53", endpoint_url=ep, region_name="us-east-1").create_hosted_zone(Name="k8s.foo.bar", CallerReference="fleetform-example")
boto3.client("s3", endpoint_url=ep, region_name="us-east-1").create_bucket(Bucket="foo-bar-fleet-state")
# EKS creates a control plane in minutes (the emulator in FLEETFORM_EKS_SETTLE_SECONDS): wait until ACTIVE.
deadline = time.monotonic() + 60
for region, name in clusters:
    eks = boto3.client("eks", endpoint_url=ep, region_name=region)
    while eks.describe_cluster(name=name)["cluster"]["status"] != "ACTIVE":
        assert time.monotonic() < deadline, f"EKS cluster {name} not ACTIVE after 60 s"
        time.sleep(0.1)
