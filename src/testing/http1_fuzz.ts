/**
 * Input generators for the HTTP/1 fuzzers (the parser fuzz test, `bench/parser_fuzz.ts` and
 * the proxy fuzz test): a seeded PRNG, so a failure reproduces from the seed it prints, valid
 * and invalid requests and responses, and byte-level mutations.
 *
 * @module
 */
import { RequestParser, ResponseParser } from "../http/http1/parser.ts";
import { type ParserEvent, Recorder } from "../http/http1/test_util.ts";

/** A seeded PRNG (mulberry32) with the helpers the generators use. */
export class Rng {
  #s: number;
  constructor(readonly seed: number) {
    this.#s = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** The seed from `FUZZ_SEED`, else a random one; printed so that a failure can be replayed. */
export function fuzzSeed(name: string): number {
  let env: string | undefined;
  try {
    env = Deno.env.get("FUZZ_SEED");
  } catch { /* no env permission */ }
  const seed = env ? Number(env) >>> 0 : (Math.random() * 0x100000000) >>> 0;
  console.log(`${name}: FUZZ_SEED=${seed}`);
  return seed;
}

const TOKENS = ["a", "b", "x-y", "accept", "user-agent", "x-request-id", "cookie"];
const VALUES = ["1", "text/html", "a b c", "", "%41", "x=1; y=2", "\t tab"];

function body(rng: Rng): string {
  const n = rng.pick([0, 1, 5, 20, 300]);
  let s = "";
  for (let i = 0; i < n; i++) s += String.fromCharCode(0x61 + rng.int(26));
  return s;
}

function chunked(rng: Rng, b: string): string {
  let out = "";
  let i = 0;
  while (i < b.length) {
    const n = 1 + rng.int(b.length - i);
    out += `${n.toString(16)}${rng.chance(0.1) ? ";ext=1" : ""}\r\n${b.slice(i, i + n)}\r\n`;
    i += n;
  }
  return out + (rng.chance(0.2) ? "0\r\nx-trailer: t\r\n\r\n" : "0\r\n\r\n");
}

function fields(rng: Rng): string {
  let out = "";
  for (let i = rng.int(4); i > 0; i--) out += `${rng.pick(TOKENS)}: ${rng.pick(VALUES)}\r\n`;
  return out;
}

/** A valid request for `path`; `close` adds `connection: close`. */
export function validRequest(rng: Rng, path: string, close = false): string {
  const method = rng.pick(["GET", "GET", "POST", "PUT", "DELETE", "OPTIONS"]);
  let head = `${method} ${path} HTTP/1.1\r\nhost: ${rng.pick(["x", "a.example:80", "[::1]"])}\r\n`;
  head += fields(rng);
  if (close) head += "connection: close\r\n";
  if (method === "POST" || method === "PUT") {
    const b = body(rng);
    if (rng.chance(0.5)) return `${head}content-length: ${b.length}\r\n\r\n${b}`;
    return `${head}transfer-encoding: chunked\r\n\r\n${chunked(rng, b)}`;
  }
  return head + "\r\n";
}

/**
 * A request every HTTP/1 server must reject (smuggling vectors and syntax errors), for `path`:
 * denvoy answers each with a 4xx/5xx and closes.
 */
export function invalidRequest(rng: Rng, path: string): string {
  const h = "host: x\r\n";
  return rng.pick([
    `POST ${path} HTTP/1.1\r\n${h}content-length: 3\r\ntransfer-encoding: chunked\r\n\r\n`,
    `POST ${path} HTTP/1.1\r\n${h}content-length: 3\r\ncontent-length: 4\r\n\r\nabcd`,
    `POST ${path} HTTP/1.1\r\n${h}transfer-encoding: xchunked\r\n\r\n`,
    `POST ${path} HTTP/1.1\r\n${h}transfer-encoding: gzip, chunked, identity\r\n\r\n`,
    `GET ${path} HTTP/1.1\r\nhost: a b\r\n\r\n`,
    `GET ${path} HTTP/1.1\r\nhost: a\tb\r\n\r\n`,
    `G@T ${path} HTTP/1.1\r\n${h}\r\n`,
    `GET ${path} HTTP/1.1\r\n${h}x-a : 1\r\n\r\n`,
    `GET ${path} HTTP/1.1\r\n${h}x-a: 1\r\n folded\r\n\r\n`,
    `GET ${path} HTTP/1.1\r\n${h}x-a: 1\0\r\n\r\n`,
    `POST ${path} HTTP/1.1\r\n${h}transfer-encoding: chunked\r\n\r\nzz\r\n`,
    `GET ${path} HTTP/1.1\n${h}\n`,
    `GET ${path} HTTP/1.1\r\n${h}host: y\r\n\r\n`,
  ]);
}

const SPECIAL = [0x0d, 0x0a, 0x20, 0x3a, 0x09, 0x00, 0x30, 0x7f, 0xff, 0x2c, 0x3b];

/** One to `max` random byte-level edits of `s` (flip, insert, delete, duplicate, cut). */
export function mutate(rng: Rng, s: string, max = 3): string {
  for (let n = 1 + rng.int(max); n > 0; n--) {
    const i = rng.int(s.length + 1);
    const c = String.fromCharCode(rng.chance(0.5) ? rng.pick(SPECIAL) : rng.int(256));
    switch (rng.int(5)) {
      case 0:
        s = s.slice(0, i) + c + s.slice(i + 1);
        break;
      case 1:
        s = s.slice(0, i) + c + s.slice(i);
        break;
      case 2:
        s = s.slice(0, i) + s.slice(i + 1 + rng.int(4));
        break;
      case 3: {
        const j = rng.int(s.length + 1);
        s = s.slice(0, i) + s.slice(Math.min(i, j), Math.max(i, j)) + s.slice(i);
        break;
      }
      default:
        s = s.slice(0, i);
    }
  }
  return s;
}

/** A valid response with `payload` as its body (unless the status has none). */
export function validResponse(rng: Rng, payload: string): string {
  const extra = fields(rng);
  switch (rng.int(5)) {
    case 0:
      return `HTTP/1.1 200 OK\r\n${extra}content-length: ${payload.length}\r\n\r\n${payload}`;
    case 1:
      return `HTTP/1.1 201 Created\r\n${extra}transfer-encoding: chunked\r\n\r\n${
        chunked(rng, payload)
      }`;
    case 2:
      return `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: ${payload.length}\r\n\r\n${payload}`;
    case 3:
      return `HTTP/1.1 204 No Content\r\n${extra}\r\n`;
    default:
      return `HTTP/1.1 404 Not Found\r\n${extra}content-length: ${payload.length}\r\n\r\n${payload}`;
  }
}

/**
 * A response an upstream might send: valid, valid with bytes after it (a second response,
 * garbage, a header fragment), mutated, or a smuggling attempt.
 */
export function randomResponse(rng: Rng): string {
  const ok = validResponse(rng, body(rng));
  switch (rng.int(5)) {
    case 0:
      return ok;
    case 1:
      return ok + rng.pick([
        "HTTP/1.1 302 Found\r\nlocation: http://evil.example/\r\nset-cookie: s=attacker\r\nx-junk: ",
        "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nevil!",
        "garbage",
        "\r\n",
      ]);
    case 2:
      return mutate(rng, ok, 4);
    case 3:
      return rng.pick([
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nabc",
        "HTTP/1.1 200 OK\r\ntransfer-encoding: xchunked\r\n\r\nabc",
        "HTTP/1.1 204 No Content\r\ncontent-length: 3\r\n\r\nabc",
        "HTTP/1.1 99 Odd\r\n\r\n",
        "HTTP/1.1 200 OK\r\nx: a\nb\r\n\r\n",
      ]);
    default:
      return String.fromCharCode(...Array.from({ length: rng.int(40) }, () => rng.int(256)));
  }
}

/** Cut points that split `length` bytes into random pieces (at least one). */
export function randomSplits(rng: Rng, length: number): number[] {
  const cuts = [0];
  for (let p = 0; p < length;) {
    p = Math.min(length, p + 1 + rng.int(Math.max(1, length / 3)));
    cuts.push(p);
  }
  return cuts;
}

/** `s` as bytes (each code unit one byte, as on the wire). */
export function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/**
 * Feeds `input` to `parser` cut at `cuts` (from `randomSplits`), as a connection does:
 * consumed bytes are not given again, and a parser that stops consuming gets nothing more.
 * Returns how many bytes it consumed. Throws if `execute()` claims more than it was given (an
 * exception from the parser itself propagates: the fuzzers count that as a failure).
 */
export function feedParser(
  parser: { execute(data: Uint8Array): number },
  input: Uint8Array,
  cuts: number[],
): number {
  for (let i = 1; i < cuts.length; i++) {
    const piece = input.subarray(cuts[i - 1], cuts[i]);
    const used = parser.execute(piece);
    if (!(used >= 0 && used <= piece.length)) throw new Error(`execute() returned ${used}`);
    if (used < piece.length) return cuts[i - 1] + used;
  }
  return input.length;
}

/**
 * The events before any error. An error itself may depend on the split: a head that is still
 * incomplete is checked only for its line structure, so a whole head can fail at once where
 * the same bytes in pieces wait for the rest. Nothing after an error is ever reported.
 */
function normalized(r: Recorder): string[] {
  const out: string[] = [];
  for (const e of r.events as ParserEvent[]) {
    if ("error" in e) break;
    out.push(JSON.stringify(e));
  }
  return out;
}

function parse(request: boolean, input: Uint8Array, cuts: number[]): string[] {
  const r = new Recorder();
  const p = request ? new RequestParser(r) : new ResponseParser(r);
  if (!request) {
    // Every response answers a GET: the method is set again after each one, as the pool does.
    const rp = p as ResponseParser;
    rp.setRequestMethod("GET");
    r.after = (e) => {
      if ("complete" in e) rp.setRequestMethod("GET");
    };
  }
  feedParser(p, input, cuts);
  return normalized(r);
}

function same(a: string[], b: string[], what: string): void {
  const x = JSON.stringify(a), y = JSON.stringify(b);
  if (x !== y) throw new Error(`${what}:\n${x}\n!==\n${y}`);
}

/**
 * One parser fuzz case from `rng`: a pipeline of valid, invalid and mutated requests (or
 * responses) parsed whole, in random pieces and byte by byte. Throws (with the input) if a
 * parser throws, if the events depend on how the input was split, or if the valid messages
 * at the front of the pipeline parse differently from each one alone with a fresh parser
 * (state leaking from one message into the next).
 */
export function parserFuzzCase(rng: Rng): void {
  const request = rng.chance(0.5);
  const valid: string[] = [];
  for (let n = rng.int(4); n > 0; n--) {
    valid.push(request ? validRequest(rng, `/v${n}`) : validResponse(rng, `v${n}`));
  }
  let tail = "";
  for (let n = rng.int(3); n > 0; n--) {
    if (request) {
      const r = rng.int(3);
      tail += r === 0
        ? invalidRequest(rng, "/i")
        : r === 1
        ? mutate(rng, validRequest(rng, "/m"))
        : validRequest(rng, "/t");
    } else tail += rng.chance(0.7) ? randomResponse(rng) : validResponse(rng, "t");
  }
  const text = valid.join("") + tail;
  const input = latin1Bytes(text);
  try {
    const whole = parse(request, input, [0, input.length]);
    same(parse(request, input, randomSplits(rng, input.length)), whole, "split");
    if (input.length <= 2000) {
      const bytewise = Array.from({ length: input.length + 1 }, (_, i) => i);
      same(parse(request, input, bytewise), whole, "byte by byte");
    }
    const alone = valid.flatMap((v) => {
      const b = latin1Bytes(v);
      return parse(request, b, [0, b.length]);
    });
    same(whole.slice(0, alone.length), alone, "pipelined vs alone");
  } catch (e) {
    throw new Error(
      `${request ? "request" : "response"} input ${JSON.stringify(text)}: ${(e as Error).message}`,
    );
  }
}
