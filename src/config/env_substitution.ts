/**
 * `--env-substitution` (beyond Envoy: GitHub issue 32057): `${NAME}` and `${NAME:-default}` in
 * the bootstrap's values are replaced with environment variables, after the YAML is parsed, so
 * every error still points at the line and column of the file as written. `$${` stands for a
 * literal `${`. A substituted value is text, which the loader reads as Envoy's JSON mapping
 * does for any field (`port_value: "${PORT}"` is a number when PORT is one; in a flow mapping
 * `{ ... }` the reference must be quoted, as YAML requires). Keys are not substituted. A
 * variable that is not set and has no default is an error naming it (`--mode validate` lists
 * them all).
 *
 * @module
 */

/** `${NAME}`, `${NAME:-default}`, or the escape `$${...}`. */
const REFERENCE = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** A variable a value names that is neither set nor defaulted. */
export interface UnsetVariable {
  name: string;
  /** The field path of the value, as the config's issues name paths. */
  path: string;
}

/** Substitutes one string; undefined when it has no reference at all. */
function substituteString(
  s: string,
  env: (name: string) => string | undefined,
  onUnset: (name: string) => void,
): string | undefined {
  if (!s.includes("${")) return undefined;
  return s.replace(REFERENCE, (match, escape: string, name: string, dflt?: string) => {
    if (escape) return match.slice(1);
    const v = env(name);
    // `:-` as in the shell: the default also replaces an empty value.
    if (v !== undefined && v !== "") return v;
    if (dflt !== undefined) return dflt;
    if (v === undefined) onUnset(name);
    return v ?? match;
  });
}

/**
 * `value` with every reference in its strings substituted (a new tree where anything changed).
 * Each variable left unset is reported with the path of its value.
 */
export function substituteEnv(
  value: unknown,
  env: (name: string) => string | undefined,
  unset: UnsetVariable[],
  path = "",
): unknown {
  if (typeof value === "string") {
    const r = substituteString(value, env, (name) => unset.push({ name, path }));
    return r === undefined ? value : r;
  }
  if (Array.isArray(value)) {
    return value.map((v, i) => substituteEnv(v, env, unset, `${path}[${i}]`));
  }
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const key = /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? k : JSON.stringify(k);
      const p = key === k ? (path ? `${path}.${k}` : k) : `${path}[${key}]`;
      out[k] = substituteEnv(v, env, unset, p);
    }
    return out;
  }
  return value;
}
