"""Run through bench/deploy-overhead: from a new commit to CreateDeployment
accepted, three ways, on the same repository, sandbox and credentials.

  1. The AWS CLI path: `git archive --format=tar.gz HEAD`, `aws s3 cp` with
     SSE-KMS, `aws deploy create-deployment` (each step timed too).
  2. `slipway deploy --no-wait` with the same static keys (the standard
     chain), so the difference is Slipway's own work: bundle on every core,
     the appspec check, group, bucket, concurrency and ordering checks,
     HeadObject, the checksummed upload, RegisterApplicationRevision.
  3. The same with `--role-to-assume`: the OIDC token exchanged for the
     role in-process, as in an Actions job (the CLI path needs a separate
     configure-aws-credentials step for that, not counted above).
  4. 2 again with TMPDIR on tmpfs (/dev/shm, when there is one): the
     appspec check builds a skeleton of the tree's directories under TMPDIR,
     which costs seconds on a slow, busy disk.

Each run deploys a new commit on top of the last (so nothing is already in
S3 and the ordering check passes), and waits, untimed, for the deployment
to end before the next one, so no run waits behind another.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AWS = os.path.join(ROOT, ".venv", "bin", "aws")
SLIPWAY = os.environ["SLIPWAY_BIN"]
SANDBOX = os.environ["SANDBOX_BIN"]
FILES = int(os.environ.get("BENCH_FILES", "5000"))
MB = int(os.environ.get("BENCH_MB", "50"))
RUNS = int(os.environ.get("RUNS", "3"))
DEADLINE = 120


def start_sandbox(scratch):
    env_file = os.path.join(scratch, "env")
    log = open(os.path.join(scratch, "sandbox.log"), "w")
    proc = subprocess.Popen([SANDBOX, "--hosts", "1", "--env-file", env_file],
                            stdout=subprocess.DEVNULL, stderr=log)
    until = time.monotonic() + DEADLINE
    while not os.path.exists(env_file):
        if proc.poll() is not None or time.monotonic() > until:
            proc.kill()
            sys.exit(f"the sandbox did not come up; see {log.name}")
        time.sleep(0.1)
    # The file holds `export NAME='value'` lines; let a shell read them.
    dump = subprocess.run(["bash", "-c", f". {env_file}; env -0"], check=True,
                          capture_output=True).stdout.decode()
    env = dict(line.split("=", 1) for line in dump.split("\0") if "=" in line)
    return proc, env


def run(argv, env, **kw):
    return subprocess.run(argv, env=env, check=True, capture_output=True, text=True, **kw).stdout


def timed(argv, env):
    start = time.monotonic()
    out = run(argv, env)
    return time.monotonic() - start, out


def provision(env):
    key = run([AWS, "kms", "create-key", "--query", "KeyMetadata.KeyId", "--output", "text"],
              env).strip()
    run([AWS, "s3api", "create-bucket", "--bucket", "bench-releases"], env)
    run([AWS, "deploy", "create-application", "--application-name", "shop"], env)
    # One group per path, so the ordering check and the active-deployment
    # check of one never see the other's deployments.
    for group in ("cli", "slipway"):
        run([AWS, "deploy", "create-deployment-group", "--application-name", "shop",
             "--deployment-group-name", group,
             "--deployment-config-name", "CodeDeployDefault.AllAtOnce",
             "--service-role-arn", "arn:aws:iam::123456789012:role/codedeploy",
             "--on-premises-instance-tag-filters",
             "Key=slipway-demo,Value=web,Type=KEY_AND_VALUE"], env)
    return key


def wait_for_end(codedeploy, deployment_id):
    until = time.monotonic() + DEADLINE
    while time.monotonic() < until:
        status = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]["status"]
        if status == "Succeeded":
            return
        if status in ("Failed", "Stopped"):
            sys.exit(f"{deployment_id} ended {status}")
        time.sleep(0.2)
    sys.exit(f"{deployment_id} did not end within {DEADLINE} s")


def commit(repo, n):
    with open(os.path.join(repo, "RELEASE"), "w") as f:
        f.write(f"release {n}\n")
    git = ["git", "-C", repo, "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run(git + ["add", "RELEASE"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", f"release {n}"], check=True)
    return subprocess.run(git + ["rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()


def cli_path(repo, sha, key, scratch, env):
    archive = os.path.join(scratch, f"{sha}.tar.gz")
    t_archive, _ = timed(["git", "-C", repo, "archive", "--format=tar.gz", "-o", archive, "HEAD"],
                         env)
    object_key = f"cli/shop/{sha}.tar.gz"
    t_cp, _ = timed([AWS, "s3", "cp", "--only-show-errors", "--sse", "aws:kms",
                     "--sse-kms-key-id", key, archive, f"s3://bench-releases/{object_key}"], env)
    t_create, out = timed([AWS, "deploy", "create-deployment", "--application-name", "shop",
                           "--deployment-group-name", "cli", "--description", f"commit {sha}",
                           "--s3-location",
                           f"bucket=bench-releases,key={object_key},bundleType=tgz",
                           "--query", "deploymentId", "--output", "text"], env)
    os.remove(archive)
    return {"git archive": t_archive, "aws s3 cp": t_cp, "aws deploy create-deployment": t_create,
            "total": t_archive + t_cp + t_create}, out.strip()


def slipway_path(repo, key, env, role, tmpdir=None):
    argv = [SLIPWAY, "deploy", "--no-wait", "--repository", repo, "--application", "shop",
            "--deployment-group", "slipway", "--s3-bucket", "bench-releases",
            "--kms-key-id", key, "--aws-region", env["AWS_REGION"]]
    if role:
        argv += ["--role-to-assume", env["SLIPWAY_ROLE_ARN"]]
    took, out = timed(argv, dict(env, TMPDIR=tmpdir) if tmpdir else env)
    return took, re.search(r"created (d-[A-Z0-9]+)", out).group(1)


def main():
    base = os.path.join(ROOT, ".sandbox", "bench-bundle", f"repo-{FILES}-{MB}")
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen_repo.py"), base,
                    str(FILES), str(MB)], check=True)
    scratch = tempfile.mkdtemp(prefix="slipway-deploy-overhead-")
    sandbox = None
    try:
        repo = os.path.join(scratch, "repo")
        subprocess.run(["git", "clone", "-q", base, repo], check=True)
        sandbox, env = start_sandbox(scratch)
        # Not an Actions job: no GITHUB_* variables leak into either path.
        env = {k: v for k, v in {**os.environ, **env}.items() if not k.startswith("GITHUB_")}
        key = provision(env)
        codedeploy = boto3.client(
            "codedeploy", region_name=env["AWS_REGION"],
            endpoint_url=env["AWS_ENDPOINT_URL_CODEDEPLOY"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
        inf = float("inf")
        cli = {}
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        kinds = ["static", "role"] + (["tmpfs"] if shm else [])
        slipway = {kind: inf for kind in kinds}
        n = 0
        for _ in range(RUNS):
            n += 1
            times, deployment = cli_path(repo, commit(repo, n), key, scratch, env)
            for step, t in times.items():
                cli[step] = min(cli.get(step, inf), t)
            wait_for_end(codedeploy, deployment)
            for kind in kinds:
                n += 1
                commit(repo, n)
                took, deployment = slipway_path(repo, key, env, kind == "role",
                                                shm if kind == "tmpfs" else None)
                slipway[kind] = min(slipway[kind], took)
                wait_for_end(codedeploy, deployment)

        tree = subprocess.run(["git", "-C", repo, "ls-tree", "-r", "-l", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.splitlines()
        size = sum(int(line.split()[3]) for line in tree) / 2**20
        print(f"{len(tree)} files, {size:.0f} MB committed; sandbox (moto S3/KMS, CodeDeploy "
              f"simulator); {os.cpu_count()} cores; best of {RUNS}; commit -> CreateDeployment "
              "accepted")
        for step in ("git archive", "aws s3 cp", "aws deploy create-deployment"):
            print(f"  {step:<52} {cli[step]:>7.3f} s")
        rows = [
            ("git archive + aws s3 cp + aws deploy create-deployment", cli["total"]),
            ("slipway deploy --no-wait (same static keys)", slipway["static"]),
            ("slipway deploy --no-wait --role-to-assume (+ OIDC/STS)", slipway["role"]),
        ]
        if shm:
            rows.append(("slipway deploy --no-wait, TMPDIR=/dev/shm", slipway["tmpfs"]))
        for name, t in rows:
            print(f"{name:<54} {t:>7.3f} s")
        print(f"slipway deploy against the CLI path: {cli['total'] / slipway['static']:.2f}x "
              f"({cli['total'] - slipway['static']:+.3f} s)")
    finally:
        if sandbox is not None:
            sandbox.terminate()
            try:
                sandbox.wait(timeout=30)
            except subprocess.TimeoutExpired:
                sandbox.kill()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
