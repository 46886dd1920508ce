/**
 * What every admin endpoint is made of: a path, its help text, whether it mutates the server
 * (POST only), its parameters (listed by `/help` and the home page), and the function that
 * answers it. Plus the response helpers with Envoy's content types.
 *
 * @module
 */
import type { Context } from "hono";

/** One query parameter of an endpoint, as Envoy's `ParamDescriptor`. */
export interface Param {
  id: string;
  help: string;
  /** Enum choices (`Type::Enum`), shown as a select on the home page. */
  choices?: string[];
  /** A present/absent flag (`Type::Boolean`). */
  flag?: boolean;
}

/** One admin endpoint. */
export interface Handler {
  path: string;
  help: string;
  /** Mutating handlers require POST (Envoy answers 405 otherwise). */
  post: boolean;
  params: Param[];
  /** Answers a request; `q` holds the query parameters and, for form POSTs, the form fields. */
  run(c: Context, q: URLSearchParams): Response | Promise<Response>;
}

/** The HTTP statuses admin endpoints answer with. */
export type AdminStatus = 200 | 400 | 401 | 403 | 404 | 405 | 500 | 503;

const JSON_TYPE = { "content-type": "application/json" };
const TEXT_TYPE = { "content-type": "text/plain; charset=UTF-8" };

/** Plain text with Envoy's exact content type. */
export function text(c: Context, body: string, status: AdminStatus = 200): Response {
  return c.body(body, status, TEXT_TYPE);
}

/**
 * Plain text already encoded as UTF-8 (large bodies rendered straight to bytes). Given as a
 * one-chunk stream: a Response made from the bytes themselves would copy them (megabytes for
 * `/stats/prometheus` with many clusters).
 */
export function textBytes(c: Context, body: Uint8Array): Response {
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(body);
      controller.close();
    },
  });
  return c.body(stream, 200, TEXT_TYPE);
}

/** Envoy's protobuf JSON printing indents one space per level. */
export function json(c: Context, v: unknown, status: AdminStatus = 200): Response {
  return c.body(JSON.stringify(v, null, 1), status, JSON_TYPE);
}

/** Already rendered JSON. */
export function rawJson(c: Context, body: string, status: AdminStatus = 200): Response {
  return c.body(body, status, JSON_TYPE);
}

/** A query parameter as Envoy's `Utility::queryParam` reads it: absent when empty. */
export function queryParam(q: URLSearchParams, key: string): string | undefined {
  const v = q.get(key);
  return v === null || v === "" ? undefined : v;
}

/** The `format=` parameter shared by several endpoints. */
export const FORMAT: Param = {
  id: "format",
  help: "File format to use",
  choices: ["text", "json"],
};
