"""Drives the sandbox's STS with boto3, a client independent of the Rust SDK.

Reads the sandbox from the environment, prints one JSON object of what it saw.
"""

import json
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def client(**credentials):
    return boto3.client(
        "sts",
        endpoint_url=os.environ["SANDBOX_STS"],
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        **credentials,
    )


def refusal(sts, token):
    try:
        sts.assume_role_with_web_identity(
            RoleArn=os.environ["SANDBOX_ROLE"],
            RoleSessionName="boto3",
            WebIdentityToken=token,
        )
    except ClientError as error:
        return {
            "code": error.response["Error"]["Code"],
            "message": error.response["Error"]["Message"],
            "status": error.response["ResponseMetadata"]["HTTPStatusCode"],
            "request_id": error.response["ResponseMetadata"].get("RequestId"),
        }
    return None


def main():
    sts = client(
        aws_access_key_id=os.environ["SANDBOX_KEY_ID"],
        aws_secret_access_key=os.environ["SANDBOX_SECRET"],
    )
    assumed = sts.assume_role_with_web_identity(
        RoleArn=os.environ["SANDBOX_ROLE"],
        RoleSessionName="boto3",
        WebIdentityToken=os.environ["SANDBOX_TOKEN"],
        DurationSeconds=900,
    )
    creds = assumed["Credentials"]
    identity = client(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    ).get_caller_identity()
    json.dump(
        {
            "access_key_id": creds["AccessKeyId"],
            "expiration": creds["Expiration"].isoformat(),
            "subject": assumed["SubjectFromWebIdentityToken"],
            "audience": assumed["Audience"],
            "provider": assumed["Provider"],
            "assumed_arn": assumed["AssumedRoleUser"]["Arn"],
            "caller_arn": identity["Arn"],
            "caller_account": identity["Account"],
            "wrong_audience": refusal(sts, os.environ["SANDBOX_WRONG_AUDIENCE_TOKEN"]),
            "wrong_branch": refusal(sts, os.environ["SANDBOX_WRONG_BRANCH_TOKEN"]),
            "expired": refusal(sts, os.environ["SANDBOX_EXPIRED_TOKEN"]),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
