/**
 * A format string compiled to its parts, and the loop that renders them. Shared by text
 * formats and by the string values of JSON formats.
 */
import { createProvider } from "./commands.ts";
import { parseFormat } from "./format_parser.ts";
import type { FormatContext, Provider } from "./provider.ts";

/** Literal text, or an operator's provider. */
export type FormatPart = string | Provider;

/**
 * Parses `format` and compiles each operator in it.
 *
 * @throws {Error} naming the operator, for unknown operators and bad syntax.
 */
export function compileParts(format: string): FormatPart[] {
  return parseFormat(format).map((t) => (typeof t === "string" ? t : createProvider(t)));
}

/** Renders parts as text, writing `empty` for each unset value. */
export function renderParts(parts: FormatPart[], ctx: FormatContext, empty: string): string {
  let out = "";
  for (const p of parts) out += typeof p === "string" ? p : p.text(ctx) ?? empty;
  return out;
}
