"""The figures of bench/agent-extract (see there). Prints each figure beside
its baseline, measured in the same run, on the same files."""

import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

AGENT = os.path.abspath(sys.argv[1])
MB = int(os.environ.get("BENCH_MB", "500"))
FILES = int(os.environ.get("BENCH_FILES", "20000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
EVENTS = ["BeforeInstall", "AfterInstall", "ApplicationStart", "ValidateService"]


def make_bundle(work):
    """A revision of FILES files totalling MB megabytes, half random and half
    text, so gzip works about as hard as on a real application tree."""
    src = os.path.join(work, "src")
    os.makedirs(os.path.join(src, "scripts"))
    with open(os.path.join(src, "appspec.yml"), "w") as f:
        f.write("version: 0.0\nos: linux\nfiles:\n  - source: app\n    destination: %s/installed\n" % work)
    rng = random.Random(7)
    size = MB * 1024 * 1024 // FILES
    text = (b"def handler(request):\n    return render(request, 'page.html', {'x': 1})\n" * (size // 70 + 1))[: size // 2]
    for i in range(FILES):
        d = os.path.join(src, "app", "pkg%03d" % (i % 200))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "mod%05d.py" % i), "wb") as f:
            f.write(text)
            f.write(rng.randbytes(size - len(text)))
    bundle = os.path.join(work, "bundle.tgz")
    subprocess.run(["tar", "-czf", bundle, "-C", src, "."], check=True)
    shutil.rmtree(src)
    return bundle


def timed(cmd, **kw):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
    return time.perf_counter() - t


def extraction(work, bundle):
    def tar_x():
        out = os.path.join(work, "tar-out")
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        return timed(["tar", "-xzf", bundle, "-C", out])

    def agent_x():
        root = os.path.join(work, "root-x")
        shutil.rmtree(root, ignore_errors=True)
        return timed([AGENT, "local", "--bundle", bundle, "--root", root, "--events", "DownloadBundle"])

    # Interleaved, each after a sync: the disk's writeback of the previous
    # run's 500 MB otherwise lands on whichever run comes next.
    tars, agents = [], []
    for _ in range(RUNS):
        os.sync()
        tars.append(tar_x())
        os.sync()
        agents.append(agent_x())
    t_tar, t_agent = min(tars), min(agents)
    mb = os.path.getsize(bundle) / 1e6
    print(f"extract {MB} MB / {FILES} files ({mb:.0f} MB tgz), best of {RUNS}:")
    print(f"  tar -xzf              {t_tar:7.2f} s")
    print(f"  slipway-agent         {t_agent:7.2f} s   ({t_tar / t_agent:.2f}x tar's speed)")
    shutil.rmtree(os.path.join(work, "tar-out"), ignore_errors=True)


def peak_rss(work, bundle):
    root = os.path.join(work, "root-rss")
    shutil.rmtree(os.path.join(work, "installed"), ignore_errors=True)
    # GNU time's %M is this one process's peak (getrusage's children figure
    # would include whatever ran before this script was exec'ed).
    out = subprocess.run(
        ["/usr/bin/time", "-f", "%M", AGENT, "local", "--bundle", bundle, "--root", root,
         "--events", "DownloadBundle,Install"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    ).stderr
    peak_kb = int(out.strip().splitlines()[-1])
    print(f"peak RSS, DownloadBundle + Install of that bundle: {peak_kb / 1024:.1f} MB (target <= 64 MB)")
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(os.path.join(work, "installed"), ignore_errors=True)


def overhead(work):
    rev = os.path.join(work, "noop")
    os.makedirs(rev)
    hooks = "".join(f"  {e}:\n    - location: noop.sh\n" for e in EVENTS)
    with open(os.path.join(rev, "appspec.yml"), "w") as f:
        f.write("version: 0.0\nos: linux\nhooks:\n" + hooks)
    script = os.path.join(rev, "noop.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    os.chmod(script, 0o755)
    root = os.path.join(work, "root-noop")
    subprocess.run([AGENT, "local", "--bundle", rev, "--root", root, "--events", "DownloadBundle"], check=True,
                   stdout=subprocess.DEVNULL)
    per_event = []
    n = 20
    for _ in range(n):
        out = subprocess.run(
            [AGENT, "local", "--bundle", rev, "--root", root, "--events", "DownloadBundle," + ",".join(EVENTS)],
            check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if parts and parts[0] in EVENTS:
                per_event.append(float(parts[1]))
    direct = []
    for _ in range(n * len(EVENTS)):
        direct.append(timed([script]) * 1000)
    per_event.sort()
    direct.sort()
    med = lambda v: v[len(v) // 2]
    print(f"per lifecycle event ({n * len(EVENTS)} events, median):")
    print(f"  no-op script run directly     {med(direct):6.2f} ms")
    print(f"  same script as an agent event {med(per_event):6.2f} ms")
    print(f"  agent overhead per event      {med(per_event) - med(direct):6.2f} ms (target <= 20 ms)")


def main():
    work = tempfile.mkdtemp(prefix="agent-extract-")
    try:
        t = time.perf_counter()
        bundle = make_bundle(work)
        print(f"(bundle built in {time.perf_counter() - t:.0f} s)")
        extraction(work, bundle)
        peak_rss(work, bundle)
        overhead(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


main()
