/**
 * Configuration errors that point at the operator's file: `file:line:col: field.path: message`.
 * The loader collects them instead of throwing, so one run reports every problem at once.
 */

/**
 * Why a config was rejected; `unsupported` (an extension or field denvoy lacks) and
 * `missing_file` are the kinds the corpus allows.
 */
export type ConfigErrorKind = "schema" | "semantic" | "unsupported" | "missing_file" | "io";

/** One problem in a configuration. */
export interface ConfigIssue {
  kind: ConfigErrorKind;
  /** The file the problem is in; empty for flags such as `--config-yaml`. */
  file: string;
  /** 1-based line and column, or 0 when the source has no positions (binary configs). */
  line: number;
  col: number;
  /** Field path from the root message, e.g. `static_resources.listeners[0].name`. */
  path: string;
  message: string;
  /** For `unsupported`: the extension's name and type URL. */
  extension?: { name: string; typeUrl: string };
  /** For `missing_file`: the path that does not exist. */
  missingPath?: string;
  /** For a refused field: the message type and the field's proto name. */
  field?: { typeName: string; name: string };
}

/** Renders an issue the way compilers do, so editors can jump to it. */
export function formatIssue(i: ConfigIssue): string {
  const where = i.file ? (i.line > 0 ? `${i.file}:${i.line}:${i.col}: ` : `${i.file}: `) : "";
  return `${where}${i.path ? `${i.path}: ` : ""}${i.message}`;
}

/** Thrown when loading cannot go on; carries every issue found so far. */
export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join("\n"));
    this.name = "ConfigError";
  }
}

/** Edit distance, for "did you mean" suggestions on misspelt field and enum names. */
export function editDistance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/** The closest candidate within a distance that still reads as a typo, if any. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}
