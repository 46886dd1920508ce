/**
 * Reads a configuration text (YAML or JSON) into a syntax tree that keeps source positions,
 * so every later error can name `file:line:col`. JSON is parsed by the YAML parser too
 * (JSON is YAML 1.2), which gives JSON configs the same positioned errors.
 */
import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Pair,
  parseDocument,
  type YAMLMap,
} from "yaml";
import type { ConfigIssue } from "./errors.ts";

/**
 * Largest config text accepted. Envoy has no such limit, but a bootstrap this large is a
 * mistake (a log or a dump passed as `-c`), and parsing it would stall start-up for long.
 */
export const MAX_CONFIG_BYTES = 32 * 1024 * 1024;

/** A parsed config text plus what is needed to turn node offsets into line:col. */
export interface ConfigSource {
  file: string;
  doc: Document.Parsed;
  lines: LineCounter;
}

/** Position of a byte offset as 1-based line and column. */
export function position(src: ConfigSource, offset: number): { line: number; col: number } {
  const p = src.lines.linePos(offset);
  return { line: p.line, col: p.col };
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
 * is not usable YAML/JSON at all.
 */
export function parseSource(
  text: string,
  file: string,
  issues: ConfigIssue[],
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
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    for (const e of doc.errors.slice(0, 20)) {
      const p = lines.linePos(e.pos[0]);
      const msg = e.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
      issues.push({
        kind: "schema",
        file,
        line: p.line,
        col: p.col,
        path: "",
        message: `invalid YAML: ${msg}`,
      });
    }
    return undefined;
  }
  return { file, doc, lines };
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

/**
 * Finds the node at a field path, for errors found after the walk (duplicate names, unknown
 * clusters). Keys match by proto or JSON name; a TypedStruct's `value` is looked through.
 */
export function locate(src: ConfigSource, path: string): { line: number; col: number } | undefined {
  let node: unknown = src.doc.contents;
  for (const seg of pathSegments(path)) {
    if (isAlias(node)) node = node.resolve(src.doc);
    if (typeof seg === "number") {
      if (!isSeq(node)) return undefined;
      node = node.items[seg];
    } else {
      if (!isMap(node)) return undefined;
      const find = (m: YAMLMap) =>
        (m.items as Pair[]).find((p) => {
          const k = isScalar(p.key) ? String(p.key.value) : "";
          return k === seg || k === camel(seg);
        });
      let pair = find(node);
      if (!pair) {
        const v = node.items.find((p) => isScalar(p.key) && p.key.value === "value")?.value;
        if (isMap(v)) pair = find(v);
      }
      if (!pair) return undefined;
      node = pair.value;
    }
  }
  const off = (node as { range?: number[] } | null)?.range?.[0];
  return off === undefined ? undefined : position(src, off);
}
