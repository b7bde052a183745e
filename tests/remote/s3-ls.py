#!/usr/bin/env python3
"""What a prefix of moto's S3 server holds, for tests/s3-write.bats: one line
"KEY SIZE" per object below BUCKET/PREFIX, then "upload KEY" per multipart
upload still open there. Usage: s3-ls.py ENDPOINT KEYFILE BUCKET/PREFIX"""
import sys

import boto3

endpoint, keyfile, where = sys.argv[1:4]
bucket, _, prefix = where.partition("/")
with open(keyfile) as f:
    key_id, secret = f.read().split()
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key_id,
                  aws_secret_access_key=secret)
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
    for o in page.get("Contents", []):
        print(o["Key"], o["Size"])
for u in s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", []):
    print("upload", u["Key"])
