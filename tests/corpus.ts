/**
 * `--mode validate` over the Envoy config corpus (`../shared/corpus/`), summarized per file as
 * the test compares it: OK, or the unsupported extensions, unsupported fields and missing files
 * it names.
 * Run `deno run -A tests/corpus.ts --update` to rewrite `tests/corpus_expectations.json`
 * after adding an extension.
 */
import { loadBootstrap, loadResourceFile } from "../src/config/bootstrap.ts";
import type { ConfigIssue } from "../src/config/errors.ts";
import { formatIssue } from "../src/config/errors.ts";
import { builtinExtensions } from "../src/extensions/builtin.ts";

/** The corpus folder beside the repository. */
export const CORPUS = new URL("../../shared/corpus/", import.meta.url).pathname;
const EXPECTATIONS = new URL("./corpus_expectations.json", import.meta.url).pathname;

/** What validating one corpus file produced. */
export interface CorpusOutcome {
  /** Extensions named as unsupported, as `name (type URL)`, sorted and unique. */
  unsupported?: string[];
  /** Fields refused as not implemented, as `message type.field`, sorted and unique. */
  unsupported_fields?: string[];
  /** Referenced files reported missing, sorted and unique. */
  missing_files?: string[];
  /** Anything else: the corpus must have none of these. */
  errors?: string[];
}

/** Files that are xDS resource files (DiscoveryResponse), not bootstraps (see corpus README). */
const RESOURCE_FILES = /dynamic-config-fs\/configs\/(cds|lds)\.yaml$/;

/** Every config file of the corpus, relative to it, sorted. */
export function corpusFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(CORPUS + dir)) {
      const rel = dir ? `${dir}/${e.name}` : e.name;
      if (e.isDirectory) walk(rel);
      else if (/\.(ya?ml|json)$/.test(e.name)) out.push(rel);
    }
  };
  walk("");
  return out.sort();
}

/** Validates one corpus file (relative path) and summarizes the result. */
export function validateCorpusFile(rel: string): CorpusOutcome {
  const reg = builtinExtensions();
  const path = CORPUS + rel;
  const issues: ConfigIssue[] = RESOURCE_FILES.test(rel)
    ? loadResourceFile(path, reg).issues
    : loadBootstrap({ configPath: path }, reg).issues;
  const uniq = (xs: string[]) => [...new Set(xs)].sort();
  const out: CorpusOutcome = {};
  const unsupported = uniq(
    issues.filter((i) => i.kind === "unsupported" && !i.field).map((i) =>
      `${i.extension!.name} (${i.extension!.typeUrl || "no typed_config"})`
    ),
  );
  const fields = uniq(
    issues.filter((i) => i.field).map((i) => `${i.field!.typeName}.${i.field!.name}`),
  );
  const missing = uniq(issues.filter((i) => i.kind === "missing_file").map((i) => i.missingPath!));
  const errors = issues.filter((i) => i.kind !== "unsupported" && i.kind !== "missing_file")
    .map((i) => formatIssue(i).replace(CORPUS, ""));
  if (unsupported.length) out.unsupported = unsupported;
  if (fields.length) out.unsupported_fields = fields;
  if (missing.length) out.missing_files = missing;
  if (errors.length) out.errors = errors;
  return out;
}

/** The recorded expectations: file -> "OK" or its outcome. */
export function readExpectations(): Record<string, "OK" | CorpusOutcome> {
  return JSON.parse(Deno.readTextFileSync(EXPECTATIONS));
}

if (import.meta.main) {
  const all: Record<string, "OK" | CorpusOutcome> = {};
  for (const f of corpusFiles()) {
    const o = validateCorpusFile(f);
    all[f] = Object.keys(o).length === 0 ? "OK" : o;
  }
  const text = JSON.stringify(all, null, 2) + "\n";
  if (Deno.args.includes("--update")) Deno.writeTextFileSync(EXPECTATIONS, text);
  else console.log(text);
  const values = Object.values(all);
  const ok = values.filter((v) => v === "OK").length;
  const withErrors = values.filter((v) => v !== "OK" && v.errors).length;
  console.error(
    `${values.length} files: ${ok} OK, ${values.length - ok - withErrors} ` +
      `unsupported/missing only, ${withErrors} with other errors`,
  );
}
