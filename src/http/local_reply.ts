/**
 * The connection manager's `local_reply_config`: mappers that rewrite locally generated replies
 * (status, body, headers) when their filter matches, and a body format applied to every local
 * reply (with `%LOCAL_REPLY_BODY%` standing for the original text), as Envoy documents.
 */
import type { LocalReplyConfig } from "../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.ts";
import { dataSourceText } from "../config/data_source.ts";
import {
  type AccessLogPredicate,
  compileAccessLogFilter,
} from "../extensions/access_loggers/filter.ts";
import type { FormatContext } from "../formatter/substitution_formatter.ts";
import {
  compileSubstitutionFormatString,
  type SubstitutionFormat,
} from "../formatter/substitution_format_string.ts";
import { HeaderParser } from "../router/header_mutation.ts";
import type { HeaderMap } from "./header_map.ts";

interface Mapper {
  filter: AccessLogPredicate;
  status?: number;
  body?: string;
  format?: SubstitutionFormat;
  headers?: HeaderParser;
}

/** A reply about to go out: what a mapper may change. */
export interface LocalReply {
  status: number;
  body: string;
  contentType: string;
}

/** Compiled local reply rules. */
export class LocalReplyRules {
  readonly #mappers: Mapper[];
  readonly #format: SubstitutionFormat | undefined;

  constructor(config: LocalReplyConfig | undefined) {
    this.#mappers = (config?.mappers ?? []).map((m, i) => {
      const field = `local_reply_config.mappers[${i}]`;
      if (!m.filter) throw new Error(`${field}: a mapper needs a filter`);
      return {
        filter: compileAccessLogFilter(m.filter, `${field}.filter`),
        status: m.statusCode,
        body: dataSourceText(m.body, `${field}.body`),
        format: m.bodyFormatOverride
          ? compileSubstitutionFormatString(m.bodyFormatOverride)
          : undefined,
        headers: HeaderParser.compile(m.headersToAdd, [], field, "response"),
      };
    });
    this.#format = config?.bodyFormat
      ? compileSubstitutionFormatString(config.bodyFormat)
      : undefined;
  }

  /** Whether any rule can change a reply (skips the work for the common empty config). */
  get empty(): boolean {
    return this.#mappers.length === 0 && this.#format === undefined;
  }

  /**
   * Rewrites `reply` in place: the first matching mapper's status, body and headers, then the
   * body format. `ctx.streamInfo.responseCode` must hold the original status for the filters.
   */
  apply(reply: LocalReply, headers: HeaderMap, ctx: FormatContext): void {
    let format = this.#format;
    for (const m of this.#mappers) {
      if (!m.filter(ctx)) continue;
      if (m.status !== undefined) reply.status = m.status;
      if (m.body !== undefined) reply.body = m.body;
      m.headers?.evaluate(headers, ctx);
      if (m.format) format = m.format;
      break;
    }
    if (format) {
      ctx.streamInfo.localReplyBody = reply.body;
      reply.body = format.formatter.format(ctx);
      reply.contentType = format.contentType;
    }
  }
}
