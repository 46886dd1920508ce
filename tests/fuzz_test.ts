/**
 * Fuzzing the real proxy from outside (issue #8), bounded in count and time. Each test prints
 * its seed; `FUZZ_SEED=<seed>` replays it. What must hold whatever the input: every valid
 * request before the first invalid one is forwarded and answered in order, the invalid one
 * gets one error response and nothing after it is parsed, forwarded or answered; the proxy
 * never hangs; and after any upstream response, another client gets its own response.
 */
import { assert, assertEquals } from "../src/testing/assert.ts";
import {
  fuzzSeed,
  invalidRequest,
  mutate,
  randomResponse,
  randomSplits,
  Rng,
  validRequest,
} from "../src/testing/http1_fuzz.ts";
import { httpConfig, Proxy, SHORT_DELAYED_CLOSE, staticCluster } from "./proxy.ts";
import { exchange, ok, rawUpstream, statuses, type UpstreamRequest } from "./raw_client.ts";

const ROUTES = `- match: { prefix: "/fuzzresp/" }
  route: { cluster: backend, timeout: 1s }
- match: { prefix: "/direct" }
  direct_response: { status: 200, body: { inline_string: "direct" } }
- match: { prefix: "/" }
  route: { cluster: backend }`;

/** What the upstream answers: an echo of the request, or a scripted fuzz response. */
function echo(r: UpstreamRequest): string {
  return ok(`echo ${r.method} ${r.path} ${r.body};`);
}

async function withFuzzProxy(
  fn: (p: Proxy, seen: UpstreamRequest[], responses: Map<string, string>) => Promise<void>,
  closing: Set<string> = new Set(),
) {
  const responses = new Map<string, string>();
  const up = rawUpstream(
    (r) => responses.get(r.path) ?? echo(r),
    { closeAfter: (r) => closing.has(r.path) },
  );
  const proxy = await Proxy.start(httpConfig({
    routes: ROUTES,
    clusters: staticCluster("backend", up.port),
    hcmExtra: SHORT_DELAYED_CLOSE,
  }));
  try {
    await fn(proxy, up.seen, responses);
  } finally {
    await proxy.stop();
    up.close();
  }
}

/** A fresh client gets exactly its own answer. */
async function check(p: Proxy, id: string): Promise<void> {
  const r = await exchange(p.port(), [
    `GET /check/${id} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`,
  ]);
  assertEquals(statuses(r.text), [200], `check ${id}: ${r.text}`);
  assert(r.text.endsWith(`echo GET /check/${id} ;`), `check ${id}: ${r.text}`);
}

/** The pieces `s` is written in: whole, byte by byte (when short) or at random cuts. */
function pieces(rng: Rng, s: string): string[] {
  const mode = rng.int(3);
  if (mode === 0) return [s];
  if (mode === 1 && s.length <= 400) return [...s];
  const cuts = randomSplits(rng, s.length);
  return cuts.slice(1).map((c, i) => s.slice(cuts[i], c));
}

Deno.test("proxy fuzz: pipelined mixes of valid and invalid requests, whole, byte by byte and split", async () => {
  const rng = new Rng(fuzzSeed("pipelined requests"));
  await withFuzzProxy(async (p, seen) => {
    const deadline = performance.now() + 40_000;
    for (let round = 0; round < 40 && performance.now() < deadline; round++) {
      const n = 1 + rng.int(4);
      const invalidAt = rng.chance(0.6) ? rng.int(n) : n;
      let wire = "";
      const expected: string[] = [];
      // Requests after one the proxy answers with `connection: close` are not answered: the
      // invalid one, or a direct response sent before its request body arrived.
      let last = invalidAt;
      for (let i = 0; i < n; i++) {
        const path = rng.chance(0.15) ? `/direct/${round}/${i}` : `/r${round}/${i}`;
        // (Not to /direct: an error in a body the direct response does not wait for is moot.)
        if (i === invalidAt) wire += invalidRequest(rng, `/r${round}/${i}`);
        else {
          const req = validRequest(rng, path, i === n - 1 && invalidAt === n);
          wire += req;
          if (i < last) expected.push(req);
          if (path.startsWith("/direct") && /chunked|content-length: [1-9]/.test(req)) {
            last = Math.min(last, i);
          }
        }
      }
      seen.length = 0;
      const r = await exchange(p.port(), pieces(rng, wire));
      const what = `round ${round}: ${JSON.stringify(wire)} -> ${JSON.stringify(r.text)}`;
      assert(r.closed, `the proxy closes: ${what}`);
      const st = statuses(r.text);
      const oks = expected.length;
      assertEquals(st.slice(0, oks), expected.map(() => 200), what);
      if (last < invalidAt) assertEquals(st.length, oks, what);
      else if (invalidAt < n) {
        assertEquals(st.length, oks + 1, what);
        assert(st[oks] >= 400, what);
      } else assertEquals(st.length, oks, what);
      // Each valid request reached the upstream (or the direct response) whole and in order,
      // and nothing behind the invalid one did.
      const forwarded = expected.map((req) => /^\S+ (\S+)/.exec(req)![1])
        .filter((path) => !path.startsWith("/direct"));
      assertEquals(seen.map((s) => s.path), forwarded, what);
      let at = 0;
      for (const s of seen) {
        const i = r.text.indexOf(`echo ${s.method} ${s.path} ${s.body};`, at);
        assert(i >= at, `answer for ${s.path} in order: ${what}`);
        at = i;
      }
      if (round % 10 === 9) await check(p, `p${round}`);
    }
    await check(p, "p-end");
  });
});

Deno.test("proxy fuzz: mutated requests never hang or take the worker down", async () => {
  const rng = new Rng(fuzzSeed("mutated requests"));
  await withFuzzProxy(async (p) => {
    const deadline = performance.now() + 40_000;
    for (let i = 0; i < 150 && performance.now() < deadline; i++) {
      const base = validRequest(rng, `/m${i}`) + (rng.chance(0.3) ? validRequest(rng, "/n") : "");
      const wire = mutate(rng, base, 4);
      // FIN after the request: a request left incomplete by the mutation ends too.
      const r = await exchange(p.port(), pieces(rng, wire), { halfClose: true });
      const what = `${JSON.stringify(wire)} -> ${JSON.stringify(r.text)}`;
      assert(r.closed, `no hang: ${what}`);
      for (const s of statuses(r.text)) assert(s >= 200 && s <= 599, what);
      // At most one response per request line, plus one error response.
      const requestLines = wire.match(/ HTTP\/1\.\d\r?\n/g)?.length ?? 0;
      assert(statuses(r.text).length <= requestLines + 1, what);
      if (i % 25 === 24) await check(p, `m${i}`);
    }
    await check(p, "m-end");
  });
});

Deno.test("proxy fuzz: after any upstream response, the next client gets its own response", async () => {
  const rng = new Rng(fuzzSeed("upstream responses"));
  const closing = new Set<string>();
  await withFuzzProxy(async (p, _seen, responses) => {
    const deadline = performance.now() + 40_000;
    for (let i = 0; i < 40 && performance.now() < deadline; i++) {
      const path = `/fuzzresp/${i}`;
      const response = randomResponse(rng);
      responses.set(path, response);
      if (rng.chance(0.3)) closing.add(path);
      const a = await exchange(p.port(), [
        `GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`,
      ]);
      assert(a.closed, `no hang on ${JSON.stringify(response)}: ${JSON.stringify(a.text)}`);
      for (const s of statuses(a.text)) assert(s >= 100 && s <= 599, a.text);
      try {
        await check(p, `u${i}`);
      } catch (e) {
        throw new Error(`after upstream response ${JSON.stringify(response)}: ${e}`);
      }
    }
  }, closing);
});
