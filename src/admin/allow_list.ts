/**
 * `--admin-allow` (see `security.ts`): parsed with the other flags, before anything else loads,
 * so this module stays apart from the admin's guard and the crypto it needs.
 *
 * @module
 */

/** One `--admin-allow` entry: a method (`*` for any) and an exact admin path. */
export interface AllowEntry {
  method: string;
  path: string;
}

const METHODS = new Set(["GET", "HEAD", "POST", "*"]);

/**
 * Parses `--admin-allow` values (each a comma-separated list of `METHOD:/path`); throws an
 * Error naming the first bad entry.
 */
export function parseAdminAllow(values: readonly string[]): AllowEntry[] {
  const out: AllowEntry[] = [];
  for (const v of values) {
    for (const raw of v.split(",")) {
      const entry = raw.trim();
      if (entry === "") continue;
      const m = /^([A-Za-z*]+):(\/\S*)$/.exec(entry);
      const method = m?.[1].toUpperCase();
      if (!m || !METHODS.has(method!)) {
        throw new Error(
          `invalid --admin-allow entry '${entry}' (expected METHOD:/path with METHOD GET, ` +
            "POST or *, e.g. GET:/stats)",
        );
      }
      out.push({ method: method!, path: m[2] });
    }
  }
  return out;
}
