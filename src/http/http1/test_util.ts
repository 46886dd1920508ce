/**
 * Helpers for the HTTP/1 codec tests: byte strings, and a recorder of parser callbacks whose
 * event list does not depend on how the input was split.
 *
 * @module
 */
import type { HeaderMap } from "../header_map.ts";
import type { MessageHead, ParserCallbacks } from "./parser.ts";

/** The bytes of `s`, one per code unit (latin1), as they would be on the wire. */
export function bytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** `b` as a latin1 string. */
export function text(b: Uint8Array): string {
  return String.fromCharCode(...b);
}

/** One recorded callback. Adjacent body pieces are merged into one `body` event. */
export type ParserEvent =
  | { head: [string, string][]; info: MessageHead }
  | { body: string }
  | { complete: [string, string][] | undefined }
  | { error: number; detail: string; message: string };

/** ParserCallbacks that record what they are told. */
export class Recorder implements ParserCallbacks {
  /** Events in order. */
  readonly events: ParserEvent[] = [];
  /** Every body chunk as received (not merged), to check views and splitting. */
  readonly chunks: Uint8Array[] = [];
  /** Called after each event is recorded; tests use it to pause or inspect. */
  after: (e: ParserEvent) => void = () => {};

  #push(e: ParserEvent): void {
    this.events.push(e);
    this.after(e);
  }

  /** Records a head. */
  onHead(headers: HeaderMap, info: MessageHead): void {
    this.#push({ head: headers.entries(), info: { ...info } });
  }

  /** Records body bytes, merging with a preceding body event. */
  onBody(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    const last = this.events.at(-1);
    if (last !== undefined && "body" in last) last.body += text(chunk);
    else this.#push({ body: text(chunk) });
  }

  /** Records the end of a message. */
  onMessageComplete(trailers: HeaderMap | undefined): void {
    this.#push({ complete: trailers?.entries() });
  }

  /** Records an error. */
  onError(error: number, detail: string, message: string): void {
    this.#push({ error, detail, message });
  }

  /** The recorded error, if any. */
  get error(): { error: number; detail: string; message: string } | undefined {
    const e = this.events.find((e) => "error" in e);
    return e as { error: number; detail: string; message: string } | undefined;
  }

  /** The recorded heads' header entries. */
  get heads(): [string, string][][] {
    return this.events.flatMap((e) => "head" in e ? [e.head] : []);
  }

  /** The recorded heads' info. */
  get infos(): MessageHead[] {
    return this.events.flatMap((e) => "head" in e ? [e.info] : []);
  }
}

/** A parser as the tests drive it. */
export interface Feedable {
  execute(data: Uint8Array): number;
}

/**
 * Feeds `pieces` in order the way a connection would: bytes a call did not consume are kept
 * and sent again in front of the next piece. Returns the bytes never consumed.
 */
export function feed(parser: Feedable, pieces: Uint8Array[]): Uint8Array {
  let rest: Uint8Array = new Uint8Array(0);
  for (const piece of pieces) {
    const data = rest.length === 0 ? piece : concat(rest, piece);
    const n = parser.execute(data);
    rest = data.subarray(n);
  }
  return rest;
}

/** `a` followed by `b`, in a new array. */
export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** `b` cut in two at every position, and byte by byte. */
export function splits(b: Uint8Array): Uint8Array[][] {
  const out: Uint8Array[][] = [];
  for (let i = 1; i < b.length; i++) out.push([b.subarray(0, i), b.subarray(i)]);
  out.push(Array.from(b, (_, i) => b.subarray(i, i + 1)));
  return out;
}
