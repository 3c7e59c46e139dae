#!/usr/bin/env python3
"""Baseline for the plan benchmark: read the same live state one resource at a time, as the
aws CLI in a bash loop would (but without the CLI's process start per call, so the baseline is
favoured). Prints JSON {"requests": N, "seconds": S}.

Usage: baseline_reads.py ENDPOINT CLUSTER:REGION:GROUPS[,...]
"""
import json
import sys
import time

import boto3

ep = sys.argv[1]
specs = [s.split(":") for s in sys.argv[2].split(",")]
requests = 0
start = time.perf_counter()
r53 = boto3.client("route53", endpoint_url=ep, region_name="us-east-1")
zone = r53.list_hosted_zones_by_name(DNSName="k8s.example.com")["HostedZones"][0]["Id"]
requests += 1
for cluster, region, groups in specs:
    ec2 = boto3.client("ec2", endpoint_url=ep, region_name=region)
    asg = boto3.client("autoscaling", endpoint_url=ep, region_name=region)
    for name in groups.split("+"):
        full = f"{name}.{cluster}"
        asg.describe_auto_scaling_groups(AutoScalingGroupNames=[full])
        ec2.describe_launch_templates(LaunchTemplateNames=[full])
        ec2.describe_launch_template_versions(LaunchTemplateName=full, Versions=["$Default"])
        ec2.describe_instances(Filters=[{"Name": "tag:aws:autoscaling:groupName", "Values": [full]}])
        requests += 4
    for rec in ("api", "ingress"):
        r53.list_resource_record_sets(HostedZoneId=zone, StartRecordName=f"{rec}.{cluster}", MaxItems="1")
        requests += 1
print(json.dumps({"requests": requests, "seconds": time.perf_counter() - start}))
