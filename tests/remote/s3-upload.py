#!/usr/bin/env python3
"""Set up moto's S3 server for tests/s3.bats: an IAM user with an access key
(moto checks SigV4 signatures against it once its first unauthenticated
actions are spent), a bucket, and local directories uploaded under keys.
Usage: s3-upload.py ENDPOINT KEYFILE [DIR=BUCKET/PREFIX ...]; writes
"ACCESS_KEY_ID SECRET" to KEYFILE. DIR=BUCKET puts DIR at the bucket's root."""
import os
import sys

import boto3

endpoint, keyfile = sys.argv[1:3]
anon = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup")
iam = boto3.client("iam", **anon)
# these three are the actions the server lets through unauthenticated
iam.create_user(UserName="reader")
key = iam.create_access_key(UserName="reader")["AccessKey"]
iam.put_user_policy(UserName="reader", PolicyName="all",
                    PolicyDocument='{"Version": "2012-10-17", "Statement": '
                                   '[{"Effect": "Allow", "Action": "*", "Resource": "*"}]}')
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key["AccessKeyId"],
                  aws_secret_access_key=key["SecretAccessKey"])
buckets = set()
for arg in sys.argv[3:]:
    top, where = arg.split("=", 1)
    bucket, _, prefix = where.partition("/")
    if bucket not in buckets:
        s3.create_bucket(Bucket=bucket)
        buckets.add(bucket)
    for name in sorted(os.listdir(top)):
        s3.upload_file(os.path.join(top, name), bucket, prefix + "/" + name if prefix else name)
with open(keyfile, "w") as f:
    f.write("%s %s\n" % (key["AccessKeyId"], key["SecretAccessKey"]))
