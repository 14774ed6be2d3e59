"""A generated git repository for the benchmarks: FILES Python-like files
(every 50th executable) totalling MB megabytes, an appspec installing all of
it, one commit. Deterministic (seeded), and reused when it already exists.

    python3 bench/gen_repo.py DIR FILES MB
"""

import os
import random
import subprocess
import sys


def generate(root, files, mb):
    rng = random.Random(42)
    words = ["def", "class", "return", "import", "self", "request", "response", "model",
             "queryset", "filter", "order", "price", "customer", "None", "True", "False",
             "if", "else", "for", "in", "with", "as", "yield", "lambda", "async", "await"]
    words += ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(rng.randint(3, 12)))
              for _ in range(4000)]
    per_file = mb * 1024 * 1024 // files
    for i in range(files):
        d = os.path.join(root, f"pkg{i % 97}", f"mod{i % 13}")
        os.makedirs(d, exist_ok=True)
        out, size = [], 0
        while size < per_file:
            line = "    " * rng.randint(0, 3) + " ".join(
                rng.choice(words) for _ in range(rng.randint(3, 12))) + "\n"
            out.append(line)
            size += len(line)
        path = os.path.join(d, f"f{i}.py")
        with open(path, "w") as f:
            f.write("".join(out))
        if i % 50 == 0:
            os.chmod(path, 0o755)
    with open(os.path.join(root, "appspec.yml"), "w") as f:
        f.write("version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: /srv/app\n")


def main():
    root, files, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if os.path.isdir(os.path.join(root, ".git")):
        return
    print(f"generating {root}: {files} files, {mb} MB of source-like text", flush=True)
    subprocess.run(["rm", "-rf", root], check=True)
    os.makedirs(root)
    generate(root, files, mb)
    git = ["git", "-C", root, "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "bench"], check=True)


if __name__ == "__main__":
    main()
