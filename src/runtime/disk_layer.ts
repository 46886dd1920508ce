/**
 * Envoy's disk runtime layer: a directory tree whose file paths are the keys (`a/b/c` is
 * `a.b.c`) and whose contents are the values, with `#` comment lines dropped and trailing
 * blanks of the last line trimmed.
 *
 * @module
 */
import { entryFromString } from "./entry.ts";
import type { RuntimeEntry } from "./snapshot.ts";

/** Envoy's limit on directory nesting. */
const MAX_WALK_DEPTH = 16;

/** A file's runtime value: every line but `#` comments, the last one right-trimmed. */
export function diskValue(text: string): string {
  // Envoy splits on "\n" dropping empty tokens, so blank lines vanish too.
  const lines = text.split("\n").filter((l) => l !== "");
  let value = "";
  lines.forEach((line, i) => {
    if (line.startsWith("#")) return;
    value += i === lines.length - 1 ? line.replace(/\s+$/, "") : `${line}\n`;
  });
  return value;
}

/**
 * Reads the tree under `path` into entries.
 *
 * @throws {Error} when the tree is deeper than Envoy allows or a file cannot be read.
 */
export function readDiskLayer(path: string): Record<string, RuntimeEntry> {
  const out: Record<string, RuntimeEntry> = {};
  walk(path, "", 1, out);
  return out;
}

function walk(path: string, prefix: string, depth: number, out: Record<string, RuntimeEntry>) {
  if (depth > MAX_WALK_DEPTH) throw new Error(`Walk recursion depth exceeded ${MAX_WALK_DEPTH}`);
  const names = [...Deno.readDirSync(path)].map((e) => e.name).sort();
  for (const name of names) {
    const full = `${path}/${name}`;
    const key = prefix ? `${prefix}.${name}` : name;
    // Symbolic links are followed (runtime trees are usually swapped in by a symlink).
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(full);
    } catch {
      continue; // a dangling link
    }
    if (info.isDirectory) walk(full, key, depth + 1, out);
    else if (info.isFile) out[key] = entryFromString(diskValue(Deno.readTextFileSync(full)));
  }
}
