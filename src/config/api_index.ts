/**
 * The index of the Envoy v3 API descriptor set: which file declares each type, so the
 * runtime registry (`api.ts`) decodes only the files a config reaches instead of all ~450.
 *
 * `deno task proto` writes it beside the descriptor set (`envoy_api.index.json`); it is
 * derived from the set alone, so a stale index is caught by the regeneration test.
 */
import { createFileRegistry, type FileRegistry } from "@bufbuild/protobuf";
import type { FileDescriptorSet } from "@bufbuild/protobuf/wkt";

/** The file name beside the descriptor set. */
export const API_INDEX = "envoy_api.index.json";

/** What the index holds. */
export interface ApiIndex {
  /** Proto file names, in the order of the descriptor set's `file` list. */
  files: string[];
  /** Full name of every message, enum, extension and service → position in `files`. */
  types: Record<string, number>;
  /** `<extendee full name>:<field number>` → position in `files` of the extension. */
  extensions: Record<string, number>;
}

/** Builds the index of a descriptor set (at generation time). */
export function buildApiIndex(set: FileDescriptorSet): ApiIndex {
  const files = set.file.map((f) => f.name);
  const position = new Map(files.map((f, i) => [f, i]));
  const registry: FileRegistry = createFileRegistry(set);
  const types: Record<string, number> = {};
  const extensions: Record<string, number> = {};
  for (const desc of registry) {
    const file = desc.kind === "message" || desc.kind === "enum" || desc.kind === "extension" ||
        desc.kind === "service"
      ? desc.file
      : undefined;
    const at = position.get(file!.proto.name)!;
    types[desc.typeName] = at;
    if (desc.kind === "extension") extensions[`${desc.extendee.typeName}:${desc.number}`] = at;
  }
  return { files, types, extensions };
}

/** The index as the text written to disk: stable key order, so regeneration is byte-exact. */
export function formatApiIndex(index: ApiIndex): string {
  const sorted = (o: Record<string, number>) =>
    Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return JSON.stringify({
    files: index.files,
    types: sorted(index.types),
    extensions: sorted(index.extensions),
  }) + "\n";
}

/**
 * The byte range of each `file` entry of a serialized FileDescriptorSet (field 1, length
 * delimited), found by reading only tags and lengths.
 */
export function fileRanges(bytes: Uint8Array): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let i = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (i >= bytes.length) throw new Error("truncated descriptor set");
      const b = bytes[i++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
  };
  while (i < bytes.length) {
    const tag = varint();
    if (tag !== 0x0a) throw new Error(`unexpected tag ${tag} in descriptor set`);
    const len = varint();
    out.push([i, i + len]);
    i += len;
  }
  return out;
}
