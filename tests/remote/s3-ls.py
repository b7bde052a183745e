#!/usr/bin/env python3
"""The objects under s3://BUCKET/PREFIX/ as "KEY SIZE" lines, sorted, or with
--cat KEY one object's bytes on stdout. The endpoint comes from
AWS_ENDPOINT_URL, the credentials and region from boto3's own variables.
Usage: s3-ls.py s3://BUCKET/PREFIX | s3-ls.py --cat s3://BUCKET/KEY"""
import os
import sys
import urllib.parse

import boto3

args = sys.argv[1:]
cat = args[:1] == ['--cat']
url = urllib.parse.urlparse(args[-1])
s3 = boto3.client('s3', endpoint_url=os.environ['AWS_ENDPOINT_URL'],
                  region_name=os.environ.get('AWS_REGION', os.environ.get('AWS_DEFAULT_REGION', 'us-east-1')))
key = url.path.lstrip('/')
if cat:
    sys.stdout.buffer.write(s3.get_object(Bucket=url.netloc, Key=key)['Body'].read())
    sys.exit(0)
prefix = key.rstrip('/') + '/' if key else ''
found = []
for page in s3.get_paginator('list_objects_v2').paginate(Bucket=url.netloc, Prefix=prefix):
    found += [(o['Key'], o['Size']) for o in page.get('Contents', [])]
for k, size in sorted(found):
    print(k, size)
