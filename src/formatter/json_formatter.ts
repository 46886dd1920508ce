/**
 * `json_format`: a structure whose string values are format strings, rendered as one line of
 * JSON per entry (ending in a newline, as Envoy writes it). A value that is exactly one
 * operator keeps that operator's type (numbers stay numbers, metadata stays structured) and
 * is `null` when unset; any other string value is rendered as a string. Keys come in the order
 * the config lists them (Envoy's order is unspecified), or sorted with `sort_properties`.
 */
import { compileParts, type FormatPart, renderParts } from "./format_parts.ts";
import type { FormatContext, Provider } from "./provider.ts";
import type { Formatter } from "./substitution_formatter.ts";

/** Options of a JSON format. */
export interface JsonFormatOptions {
  /** Leave out keys whose value is unset, and print unset parts of strings as nothing. */
  omitEmptyValues?: boolean;
  /**
   * Keep operators' types (default). `false` renders every value as a string with `-` for
   * unset values: the deprecated `json_format` of the file logger.
   */
  typed?: boolean;
  /** Sort keys (`json_format_options.sort_properties`). */
  sortProperties?: boolean;
}

/** A compiled piece of the structure; `undefined` from render means "null / unset". */
interface Node {
  render(ctx: FormatContext): string | undefined;
}

class Constant implements Node {
  constructor(readonly json: string) {}
  render(): string {
    return this.json;
  }
}

class SingleValue implements Node {
  constructor(readonly provider: Provider, readonly typed: boolean, readonly empty?: string) {}
  render(ctx: FormatContext): string | undefined {
    if (this.typed) {
      const v = this.provider.value(ctx);
      return v === undefined ? undefined : JSON.stringify(v);
    }
    const s = this.provider.text(ctx);
    return s === undefined ? this.empty : JSON.stringify(s);
  }
}

class Template implements Node {
  constructor(readonly parts: FormatPart[], readonly empty: string) {}
  render(ctx: FormatContext): string {
    return JSON.stringify(renderParts(this.parts, ctx, this.empty));
  }
}

class ObjectNode implements Node {
  /** `"key":` already encoded. */
  constructor(readonly keys: string[], readonly values: Node[], readonly omitEmpty: boolean) {}
  render(ctx: FormatContext): string {
    let out = "{";
    for (let i = 0; i < this.keys.length; i++) {
      const v = this.values[i].render(ctx);
      if (v === undefined && this.omitEmpty) continue;
      if (out.length > 1) out += ",";
      out += this.keys[i] + (v ?? "null");
    }
    return out + "}";
  }
}

class ListNode implements Node {
  constructor(readonly items: Node[], readonly omitEmpty: boolean) {}
  render(ctx: FormatContext): string {
    let out = "[";
    for (let i = 0; i < this.items.length; i++) {
      const v = this.items[i].render(ctx);
      if (v === undefined && this.omitEmpty) continue;
      if (out.length > 1) out += ",";
      out += v ?? "null";
    }
    return out + "]";
  }
}

function compileNode(value: unknown, path: string, opts: Required<JsonFormatOptions>): Node {
  if (typeof value === "string") {
    const parts = compileParts(value);
    if (parts.length === 0) return new Constant('""');
    const [first] = parts;
    if (parts.length === 1) {
      if (typeof first === "string") return new Constant(JSON.stringify(first));
      const empty = opts.omitEmptyValues ? undefined : '"-"';
      return new SingleValue(first, opts.typed, empty);
    }
    return new Template(parts, opts.omitEmptyValues ? "" : "-");
  }
  if (value === null || typeof value === "number" || typeof value === "boolean") {
    return new Constant(JSON.stringify(value));
  }
  if (Array.isArray(value)) {
    const items = value.map((v, i) => compileNode(v, `${path}[${i}]`, opts));
    const constants = asConstants(items);
    return constants
      ? new Constant(`[${constants.join(",")}]`)
      : new ListNode(items, opts.omitEmptyValues);
  }
  if (typeof value === "object") {
    const keys = Object.keys(value);
    if (opts.sortProperties) keys.sort();
    const values = keys.map((k) =>
      compileNode((value as Record<string, unknown>)[k], path ? `${path}.${k}` : k, opts)
    );
    const encodedKeys = keys.map((k) => JSON.stringify(k) + ":");
    const constants = asConstants(values);
    if (constants) {
      return new Constant(`{${constants.map((c, i) => encodedKeys[i] + c).join(",")}}`);
    }
    return new ObjectNode(encodedKeys, values, opts.omitEmptyValues);
  }
  throw new Error(`json_format: unsupported value at '${path}'`);
}

/** The JSON of each node when all are constant, so the whole can be rendered once. */
function asConstants(nodes: Node[]): string[] | undefined {
  return nodes.every((n) => n instanceof Constant) ? nodes.map((n) => n.json) : undefined;
}

/**
 * Compiles a `json_format` structure.
 *
 * @throws {Error} naming the operator for unknown operators and bad syntax in any value.
 */
export function compileJsonFormat(
  struct: Record<string, unknown>,
  opts: JsonFormatOptions = {},
): Formatter {
  const root = compileNode(struct, "", {
    omitEmptyValues: opts.omitEmptyValues ?? false,
    typed: opts.typed ?? true,
    sortProperties: opts.sortProperties ?? false,
  });
  return { format: (ctx) => root.render(ctx) + "\n" };
}
