/**
 * Reads a configuration text (YAML or JSON) into plain values, and finds source positions
 * for error messages on demand.
 *
 * Two parsers, for a measured reason: `js-yaml` turns a 1.7 MB bootstrap (10,000 routes) into
 * values in ~0.1 s, while `yaml`'s positioned document takes ~1.9 s for the same text. So the
 * fast parser does the loading, and the positioned document is built only when there is an
 * error to place (`position`), which is also the only time an operator waits for it.
 */
// @ts-types="@types/js-yaml"
import jsyaml from "js-yaml";
import type { createRequire as CreateRequire } from "node:module";
import type * as Yaml from "yaml";
import type { Document, LineCounter, Pair, YAMLMap } from "yaml";
import type { ConfigIssue } from "./errors.ts";

/**
 * Largest config text accepted. Envoy has no such limit, but a bootstrap this large is a
 * mistake (a log or a dump passed as `-c`), and parsing it would stall start-up for long.
 */
export const MAX_CONFIG_BYTES = 32 * 1024 * 1024;

/**
 * The positioned parser, loaded on first use: only errors need it, and importing it up front
 * costs ~100 ms of start-up. `require` keeps `position()` synchronous.
 */
let yamlLib: typeof Yaml | undefined;
function yaml(): typeof Yaml {
  if (yamlLib) return yamlLib;
  // node:module is fetched here, not imported: importing it costs ~16 ms of every start-up,
  // and positions are only needed for error messages.
  const { createRequire } = (globalThis as unknown as {
    process: { getBuiltinModule(id: string): { createRequire: typeof CreateRequire } };
  }).process.getBuiltinModule("node:module");
  return yamlLib = createRequire(import.meta.url)("yaml") as typeof Yaml;
}

/**
 * Gives the positioned parser up front: the bundle has no `node_modules` for `require` to
 * find it in, so it carries the library inside and hands it over here.
 */
export function provideYaml(lib: typeof Yaml): void {
  yamlLib = lib;
}

/** YAML 1.2 core types, as Envoy's YAML loader sees them, plus `<<` merge keys. */
const SCHEMA = jsyaml.CORE_SCHEMA.extend({
  // js-yaml exports its built-in types at run time, but its type declarations omit them.
  implicit: [(jsyaml as unknown as { types: { merge: jsyaml.Type } }).types.merge],
});

/** A parsed config text. */
export interface ConfigSource {
  file: string;
  /** The text, for finding positions; empty when positions mean nothing (converted `.pb`). */
  text: string;
  value: unknown;
  /** The positioned document, built on first use. */
  doc?: { doc: Document.Parsed; lines: LineCounter };
}

/** Where an issue is: a field path, and optionally a key in the object at that path. */
export interface Anchor {
  path: string;
  key?: string;
}

/** Finds the first NUL or other control byte that no YAML or JSON text contains. */
function binaryOffset(text: string): number {
  for (let i = 0; i < Math.min(text.length, 65536); i++) {
    const c = text.charCodeAt(i);
    if (c === 0 || (c < 9) || (c > 13 && c < 32 && c !== 27) || c === 0xfffd) return i;
  }
  return -1;
}

/**
 * Parses `text` from `file`. Returns the source, or undefined with issues added when the text
 * is not usable YAML/JSON at all. `positions: false` marks text generated from a binary config.
 */
export function parseSource(
  text: string,
  file: string,
  issues: ConfigIssue[],
  opts: { positions?: boolean } = {},
): ConfigSource | undefined {
  const fail = (message: string, line = 0, col = 0) => {
    issues.push({ kind: "schema", file, line, col, path: "", message });
    return undefined;
  };
  if (text.trim() === "") {
    return fail("the config is empty: expected an Envoy v3 Bootstrap in YAML or JSON");
  }
  const bin = binaryOffset(text);
  if (bin >= 0) {
    return fail(
      `the config is not text (control byte at offset ${bin}): expected YAML or JSON ` +
        `(binary Bootstrap protos must have the extension .pb)`,
    );
  }
  let value: unknown;
  try {
    value = jsyaml.load(text, { schema: SCHEMA, filename: file });
  } catch (e) {
    const err = e as { reason?: string; mark?: { line: number; column: number }; message: string };
    const mark = err.mark;
    return fail(
      `invalid YAML: ${err.reason ?? err.message}`,
      mark ? mark.line + 1 : 0,
      mark ? mark.column + 1 : 0,
    );
  }
  return { file, text: opts.positions === false ? "" : text, value };
}

/** Splits a field path such as `a.b[0]["k"].c` into keys and indexes. */
export function pathSegments(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  const re = /([^.[\]]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g;
  for (const m of path.matchAll(re)) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push(JSON.parse(m[3]));
  }
  return out;
}

function camel(s: string): string {
  return s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function findPair(m: YAMLMap, key: string): Pair | undefined {
  const { isScalar } = yaml();
  const alt = camel(key);
  return (m.items as Pair[]).find((p) => {
    const k = isScalar(p.key) ? String(p.key.value) : "";
    return k === key || k === alt;
  });
}

/**
 * Line and column of an anchor: the key itself when `key` is given, else the value at `path`.
 * Keys match by proto or JSON name; a TypedStruct's `value` is looked through, and a single
 * value written where a list was expected stands for its element 0. When the path cannot be
 * followed to the end, the deepest node reached is used. Sources without positions give 0:0.
 */
export function position(src: ConfigSource, at: Anchor): { line: number; col: number } {
  if (!src.text) return { line: 0, col: 0 };
  if (!src.doc) {
    const { LineCounter, parseDocument } = yaml();
    const lines = new LineCounter();
    const doc = parseDocument(src.text, { lineCounter: lines, merge: true, uniqueKeys: false });
    src.doc = { doc, lines };
  }
  const { doc, lines } = src.doc;
  const { isAlias, isMap, isScalar, isSeq } = yaml();
  let node: unknown = doc.contents;
  let offset = (node as { range?: number[] } | null)?.range?.[0] ?? 0;
  const segs: (string | number)[] = pathSegments(at.path);
  if (at.key !== undefined) segs.push(at.key);
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i];
    if (isAlias(node)) node = node.resolve(doc);
    let next: unknown;
    let keyNode: unknown;
    if (typeof seg === "number") {
      if (isSeq(node)) next = node.items[seg];
      else if (seg === 0) continue;
    } else if (isMap(node)) {
      let pair = findPair(node, seg);
      if (!pair) {
        const v = node.items.find((p) => isScalar(p.key) && p.key.value === "value")?.value;
        if (isMap(v)) pair = findPair(v, seg);
      }
      next = pair?.value;
      keyNode = pair?.key;
    }
    const isKey = at.key !== undefined && i === segs.length - 1;
    const target = (isKey ? keyNode : next) as { range?: number[] } | null | undefined;
    if (target?.range === undefined) break;
    offset = target.range[0];
    node = next;
  }
  const p = lines.linePos(offset);
  return { line: p.line, col: p.col };
}
