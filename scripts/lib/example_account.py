#!/usr/bin/env python3
"""Prepare an AWS account (the local emulator) for the bundled example clusters: what fleetform
references but never creates. Usage: example_account.py ENDPOINT

- per cluster, a VPC and one subnet per zone, tagged kubernetes.io/cluster/<cluster>=shared
  (how kops and EKS mark shared subnets; fleetform finds a cluster's subnets by that tag);
- the Route53 hosted zone k8s.foo.bar;
- the state-store bucket foo-bar-fleet-state (locks and audit trail).
"""
import sys

import boto3

ep = sys.argv[1]
assert ep.startswith("http://127.0.0.1:") or ep.startswith("http://localhost:"), "loopback only"


def net(region, cluster, zones):
    c = boto3.client("ec2", endpoint_url=ep, region_name=region)
    vpc = c.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    for i, z in enumerate(zones):
        c.create_subnet(
            VpcId=vpc,
            CidrBlock=f"10.0.{i * 32}.0/19",
            AvailabilityZone=z,
            TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": f"kubernetes.io/cluster/{cluster}", "Value": "shared"}]}],
        )


net("eu-west-3", "prod-customer.k8s.foo.bar", ["eu-west-3a", "eu-west-3b", "eu-west-3c"])
net("eu-west-1", "staging.k8s.foo.bar", ["eu-west-1a", "eu-west-1b"])
boto3.client("route53", endpoint_url=ep, region_name="us-east-1").create_hosted_zone(Name="k8s.foo.bar", CallerReference="fleetform-example")
boto3.client("s3", endpoint_url=ep, region_name="us-east-1").create_bucket(Bucket="foo-bar-fleet-state")
