/**
 * Envoy's substitution formatter: format strings with command operators, compiled once into
 * a short array of literal text and providers. Used by access logs and wherever a config
 * value may hold operators (route header values such as `%DOWNSTREAM_REMOTE_ADDRESS%`), so
 * formatting is just a loop over that array: no parsing, no regular expressions.
 */
import { compileParts, type FormatPart, renderParts } from "./format_parts.ts";
import type { FormatContext } from "./provider.ts";

export type { FormatContext } from "./provider.ts";
export { compileJsonFormat, type JsonFormatOptions } from "./json_formatter.ts";

/** A compiled format. */
export interface Formatter {
  /** Renders the format for one request or connection. */
  format(ctx: FormatContext): string;
}

/** Options of a text format. */
export interface FormatOptions {
  /** Print unset values as nothing instead of `-` (`omit_empty_values`). */
  omitEmptyValues?: boolean;
}

/** Envoy's access log format when a logger configures none. */
export const DEFAULT_ACCESS_LOG_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ' +
  "%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% " +
  '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" ' +
  '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

class TextFormatter implements Formatter {
  readonly #parts: FormatPart[];
  readonly #empty: string;

  constructor(parts: FormatPart[], empty: string) {
    this.#parts = parts;
    this.#empty = empty;
  }

  format(ctx: FormatContext): string {
    return renderParts(this.#parts, ctx, this.#empty);
  }
}

/**
 * Compiles a format string. Unset values print as `-`, or as nothing with `omitEmptyValues`.
 *
 * @throws {Error} naming the operator, for unknown operators and bad syntax (Envoy rejects
 * these when it loads the config).
 */
export function compileFormat(format: string, opts: FormatOptions = {}): Formatter {
  const parts = compileParts(format);
  if (parts.length === 0) return { format: () => "" };
  const only = parts[0];
  if (parts.length === 1 && typeof only === "string") return { format: () => only };
  return new TextFormatter(parts, opts.omitEmptyValues ? "" : "-");
}
