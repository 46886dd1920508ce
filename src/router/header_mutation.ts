/**
 * `request_headers_to_add/_remove` and `response_headers_to_add/_remove` at each level of a
 * route configuration (Envoy's HeaderParser), and their application in Envoy's order.
 *
 * Within one level, removals come first; then every value is formatted against the headers as
 * they are at that point, and only then are headers overwritten and finally added, so one
 * entry never sees another entry of the same level. Across levels the weighted cluster goes
 * first, then route, virtual host and route configuration: the later a level runs, the more
 * its overwrites win. `most_specific_header_mutations_wins` reverses the last three, so the
 * route's overwrites win.
 */
import type { HeaderMap } from "../http/header_map.ts";
import type { StreamInfo } from "../stream_info/stream_info.ts";
import type { HeaderValueOption } from "../../proto/gen/envoy/config/core/v3/base_pb.ts";
import {
  compileFormat,
  type FormatContext,
  type Formatter,
} from "../formatter/substitution_formatter.ts";
import type { MatchedRoute } from "./route_table.ts";

// HeaderValueOption.HeaderAppendAction (the generated code is imported for its types only).
const APPEND_IF_EXISTS_OR_ADD = 0;
const ADD_IF_ABSENT = 1;
const OVERWRITE_IF_EXISTS_OR_ADD = 2;
const OVERWRITE_IF_EXISTS = 3;

interface HeaderToAdd {
  name: string;
  /** The value when it holds no format operator. */
  plain: string;
  formatter: Formatter | undefined;
  action: number;
  keepEmpty: boolean;
}

const NOTHING = 0;
const OVERWRITE = 1;
const ADD = 2;

/** Envoy never lets config add, change or remove pseudo-headers or `host`. */
function isProtected(lowerName: string): boolean {
  return lowerName.startsWith(":") || lowerName === "host";
}

const utf8 = new TextDecoder();

function compileHeaderToAdd(o: HeaderValueOption, field: string): HeaderToAdd {
  const h = o.header;
  if (!h) throw new Error(`${field}.header: is required`);
  const name = h.key.toLowerCase();
  if (isProtected(name)) {
    throw new Error(`${field}.header.key: :-prefixed or host headers may not be modified`);
  }
  let action: number = o.appendAction;
  if (o.append !== undefined) {
    if (action !== APPEND_IF_EXISTS_OR_ADD) {
      throw new Error(`${field}: Both append and append_action are set and it's not allowed`);
    }
    action = o.append ? APPEND_IF_EXISTS_OR_ADD : OVERWRITE_IF_EXISTS_OR_ADD;
  }
  const value = h.value !== "" || h.rawValue.length === 0 ? h.value : utf8.decode(h.rawValue);
  let formatter: Formatter | undefined;
  // Values without operators stay plain strings: nothing to format per request.
  if (value.includes("%")) {
    try {
      // Header values leave unset operators empty rather than "-", as Envoy's do.
      formatter = compileFormat(value, { omitEmptyValues: true });
    } catch (e) {
      throw new Error(`${field}.header.value: ${e instanceof Error ? e.message : e}`);
    }
  }
  return { name, plain: value, formatter, action, keepEmpty: o.keepEmptyValue };
}

/** The header mutations of one level (route configuration, virtual host, route or cluster). */
export class HeaderParser {
  readonly #add: HeaderToAdd[];
  readonly #remove: string[];
  /** Per-entry scratch for one evaluation (evaluation is synchronous, so one set suffices). */
  readonly #values: string[];
  readonly #ops: Uint8Array;

  private constructor(add: HeaderToAdd[], remove: string[]) {
    this.#add = add;
    this.#remove = remove;
    this.#values = add.map(() => "");
    this.#ops = new Uint8Array(add.length);
  }

  /**
   * Compiles one level's lists; undefined when both are empty.
   *
   * @param field the config path of the level, e.g. `virtual_hosts[0]`.
   * @param which `request` or `response`, naming the fields in errors.
   * @throws {Error} for pseudo-headers or `host`, `append` with `append_action`, bad formats.
   */
  static compile(
    toAdd: readonly HeaderValueOption[],
    toRemove: readonly string[],
    field: string,
    which: "request" | "response",
  ): HeaderParser | undefined {
    if (toAdd.length === 0 && toRemove.length === 0) return undefined;
    const add = toAdd.map((o, i) =>
      compileHeaderToAdd(o, `${field}.${which}_headers_to_add[${i}]`)
    );
    const remove = toRemove.map((n, i) => {
      const name = n.toLowerCase();
      if (isProtected(name)) {
        throw new Error(
          `${field}.${which}_headers_to_remove[${i}]: :-prefixed or host headers may not be removed`,
        );
      }
      return name;
    });
    return new HeaderParser(add, remove);
  }

  /** Applies this level's mutations to `headers`, formatting values with `ctx`. */
  evaluate(headers: HeaderMap, ctx: FormatContext): void {
    for (let i = 0; i < this.#remove.length; i++) headers.remove(this.#remove[i]);
    const add = this.#add;
    const values = this.#values;
    const ops = this.#ops;
    for (let i = 0; i < add.length; i++) {
      const a = add[i];
      const value = a.formatter ? a.formatter.format(ctx) : a.plain;
      ops[i] = NOTHING;
      if (value === "" && !a.keepEmpty) continue;
      values[i] = value;
      switch (a.action) {
        case ADD_IF_ABSENT:
          if (!headers.has(a.name)) ops[i] = ADD;
          break;
        case OVERWRITE_IF_EXISTS:
          if (headers.has(a.name)) ops[i] = OVERWRITE;
          break;
        case OVERWRITE_IF_EXISTS_OR_ADD:
          ops[i] = OVERWRITE;
          break;
        default:
          ops[i] = ADD;
      }
    }
    for (let i = 0; i < add.length; i++) {
      if (ops[i] === OVERWRITE) headers.set(add[i].name, values[i]);
    }
    for (let i = 0; i < add.length; i++) if (ops[i] === ADD) headers.add(add[i].name, values[i]);
    values.fill("");
  }
}

/**
 * Applies the matched route's request header mutations: weighted cluster, then the route's
 * levels in the configured order. Host and path rewrites are the router's (see
 * `rewritePath` and the route's host rewrite fields).
 */
export function applyRequestHeaderMutations(
  matched: MatchedRoute,
  headers: HeaderMap,
  streamInfo: StreamInfo,
): void {
  const ctx: FormatContext = { requestHeaders: headers, streamInfo };
  matched.weightedCluster?.requestHeaderParser?.evaluate(headers, ctx);
  const levels = matched.route.requestHeaderParsers;
  for (let i = 0; i < levels.length; i++) levels[i].evaluate(headers, ctx);
}

/** Applies the matched route's response header mutations, in the same order as requests'. */
export function applyResponseHeaderMutations(
  matched: MatchedRoute,
  responseHeaders: HeaderMap,
  requestHeaders: HeaderMap,
  streamInfo: StreamInfo,
): void {
  const ctx: FormatContext = { requestHeaders, responseHeaders, streamInfo };
  matched.weightedCluster?.responseHeaderParser?.evaluate(responseHeaders, ctx);
  const levels = matched.route.responseHeaderParsers;
  for (let i = 0; i < levels.length; i++) levels[i].evaluate(responseHeaders, ctx);
}
