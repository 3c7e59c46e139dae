"""What kops 1.28 leaves on AWS for the cluster prod.k8s.acme.io of tests/fixtures/kops/prod.yaml,
in the local emulator: the starting point of "Moving from kops" (README) and of its test.
Usage: kops_account.py ENDPOINT

- the state bucket acme-kops-state and the hosted zone k8s.acme.io;
- kops's instance profiles and security groups, masters.<cluster> and nodes.<cluster>;
- a VPC with a private and a utility subnet per zone, all four tagged
  kubernetes.io/cluster/<cluster>=owned (as kops tags them);
- per InstanceGroup, a launch template and an Auto Scaling group named <group>.<cluster> with
  kops's tags and its nodeup user data; the spot group with its mixed-instances policy (maxPrice
  0.45) and AZRebalance suspended; the on-demand group with detailed monitoring, scale-in
  protection, a week's instance lifetime and a warm pool.
"""
import json
import sys

import boto3

ep = sys.argv[1]
assert ep.startswith("http://127.0.0.1:") or ep.startswith("http://localhost:"), "loopback only"
def ec2(r): return boto3.client('ec2', endpoint_url=ep, region_name=r)
def asg(r): return boto3.client('autoscaling', endpoint_url=ep, region_name=r)
iam = boto3.client('iam', endpoint_url=ep, region_name='us-east-1')
r53 = boto3.client('route53', endpoint_url=ep, region_name='us-east-1')
s3 = boto3.client('s3', endpoint_url=ep, region_name='us-east-1')
import base64
C = 'prod.k8s.acme.io'
c, a = ec2('eu-west-1'), asg('eu-west-1')
s3.create_bucket(Bucket='acme-kops-state', CreateBucketConfiguration={'LocationConstraint': 'eu-west-1'})
r53.create_hosted_zone(Name='k8s.acme.io', CallerReference='kops')
trust = json.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Principal': {'Service': 'ec2.amazonaws.com'}, 'Action': 'sts:AssumeRole'}]})
for r in ['masters', 'nodes']:
    iam.create_role(RoleName=f'{r}.{C}', AssumeRolePolicyDocument=trust)
    iam.create_instance_profile(InstanceProfileName=f'{r}.{C}')
    iam.add_role_to_instance_profile(InstanceProfileName=f'{r}.{C}', RoleName=f'{r}.{C}')
vpc = c.create_vpc(CidrBlock='172.20.0.0/16')['Vpc']['VpcId']
owned = [{'Key': f'kubernetes.io/cluster/{C}', 'Value': 'owned'}, {'Key': 'KubernetesCluster', 'Value': C}]
subnet = {}
for name, zone, cidr in [('eu-west-1a', 'eu-west-1a', '172.20.32.0/19'), ('eu-west-1b', 'eu-west-1b', '172.20.64.0/19'),
                         ('utility-eu-west-1a', 'eu-west-1a', '172.20.0.0/22'), ('utility-eu-west-1b', 'eu-west-1b', '172.20.4.0/22')]:
    subnet[name] = c.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone,
        TagSpecifications=[{'ResourceType': 'subnet', 'Tags': owned + [{'Key': 'Name', 'Value': f'{name}.{C}'}]}])['Subnet']['SubnetId']
sg = {r: c.create_security_group(GroupName=f'{r}.{C}', Description=r, VpcId=vpc)['GroupId'] for r in ['masters', 'nodes']}
nodeup = base64.b64encode(b'#!/bin/bash\n# kops nodeup: download nodeup and run it\n').decode()
def group(ig, role, itype, volume, mn, mx, subnets, extra_tags, mixed=None, encrypted=False, monitoring=False, extra=None):
    name = f'{ig}.{C}'
    kind = 'master' if role == 'masters' else 'node'
    tags = owned + [{'Key': 'Name', 'Value': name}, {'Key': f'k8s.io/role/{kind}', 'Value': '1'}, {'Key': 'kops.k8s.io/instancegroup', 'Value': ig}] + extra_tags
    c.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
        'ImageId': 'ami-785db401', 'InstanceType': itype, 'UserData': nodeup,
        'IamInstanceProfile': {'Name': f'{role}.{C}'},
        # kops puts the security group on the network interface, with no public address in a
        # private subnet.
        'NetworkInterfaces': [{'DeviceIndex': 0, 'AssociatePublicIpAddress': False, 'DeleteOnTermination': True, 'Groups': [sg[role]]}],
        'BlockDeviceMappings': [{'DeviceName': '/dev/sda1', 'Ebs': dict(VolumeSize=volume, VolumeType='gp3', DeleteOnTermination=True, **({'Encrypted': True} if encrypted else {}))}],
        'MetadataOptions': {'HttpTokens': 'required', 'HttpPutResponseHopLimit': 1},
        **({'Monitoring': {'Enabled': True}} if monitoring else {})},
        TagSpecifications=[{'ResourceType': 'launch-template', 'Tags': tags}])
    spec = {'LaunchTemplateName': name, 'Version': '1'}
    args = dict(AutoScalingGroupName=name, MinSize=mn, MaxSize=mx, DesiredCapacity=mn, VPCZoneIdentifier=','.join(subnet[s] for s in subnets),
        Tags=[dict(t, ResourceId=name, ResourceType='auto-scaling-group', PropagateAtLaunch=True) for t in tags])
    if mixed:
        args['MixedInstancesPolicy'] = {'LaunchTemplate': {'LaunchTemplateSpecification': spec, 'Overrides': [{'InstanceType': t} for t in mixed]},
            'InstancesDistribution': {'OnDemandBaseCapacity': 0, 'OnDemandPercentageAboveBaseCapacity': 0, 'SpotAllocationStrategy': 'capacity-optimized', 'SpotMaxPrice': '0.45'}}
        args['CapacityRebalance'] = True
    else:
        args['LaunchTemplate'] = spec
    args.update(extra or {})
    a.create_auto_scaling_group(**args)
autoscaler = [{'Key': 'k8s.io/cluster-autoscaler/enabled', 'Value': ''}, {'Key': f'k8s.io/cluster-autoscaler/{C}', 'Value': ''}]
team = [{'Key': 'team', 'Value': 'platform'}]
group('control-plane-eu-west-1a', 'masters', 'm5.large', 64, 1, 1, ['eu-west-1a'], team, encrypted=True)
group('nodes-on-demand', 'nodes', 'c5.4xlarge', 100, 1, 10, ['eu-west-1a', 'eu-west-1b'], team + autoscaler + [{'Key': 'pool', 'Value': 'app'}],
      monitoring=True, extra={'NewInstancesProtectedFromScaleIn': True, 'MaxInstanceLifetime': 604800})
a.put_warm_pool(AutoScalingGroupName=f'nodes-on-demand.{C}', MinSize=1, MaxGroupPreparedCapacity=2, PoolState='Stopped')
spot = ['c5.4xlarge', 'c5a.4xlarge', 'c5d.4xlarge', 'c5n.4xlarge', 'c6i.4xlarge', 'c6a.4xlarge', 'c6id.4xlarge', 'c6in.4xlarge', 'c7i.4xlarge', 'c7a.4xlarge', 'm5.4xlarge', 'm6i.4xlarge']
group('nodes-spot-4x', 'nodes', 'c5.4xlarge', 100, 0, 50, ['eu-west-1a', 'eu-west-1b'], team + autoscaler + [{'Key': 'pool', 'Value': 'app'}], mixed=spot, encrypted=True)
a.suspend_processes(AutoScalingGroupName=f'nodes-spot-4x.{C}', ScalingProcesses=['AZRebalance'])
group('prometheus', 'nodes', 'r5.2xlarge', 200, 1, 2, ['eu-west-1a'], team)
