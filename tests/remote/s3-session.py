#!/usr/bin/env python3
"""Temporary credentials from moto's STS for tests/s3-config.bats: a role
allowed everything, assumed by the key of s3-upload.py's user, whose access
key, secret and session token moto's S3 server checks (it knows the sessions
of roles assumed through its STS; those of GetSessionToken it does not).
Usage: s3-session.py ENDPOINT KEYFILE OUTFILE; KEYFILE holds
"ACCESS_KEY_ID SECRET"; writes "ACCESS_KEY_ID SECRET SESSION_TOKEN" to OUTFILE."""
import json
import sys

import boto3

endpoint, keyfile, outfile = sys.argv[1:4]
key, secret = open(keyfile).read().split()
auth = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key=secret)
iam = boto3.client("iam", **auth)
trust = {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
role = iam.create_role(RoleName="reader-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
iam.put_role_policy(RoleName="reader-role", PolicyName="all",
                    PolicyDocument='{"Version": "2012-10-17", "Statement": '
                                   '[{"Effect": "Allow", "Action": "*", "Resource": "*"}]}')
creds = boto3.client("sts", **auth).assume_role(RoleArn=role["Arn"], RoleSessionName="test")["Credentials"]
with open(outfile, "w") as f:
    f.write("%s %s %s\n" % (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]))
