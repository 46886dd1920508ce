/**
 * Heap snapshots of every isolate of a denvoy process started with `--inspect`: the main
 * thread's and each worker's (attached through the inspector's `Target` domain), each after a
 * full GC, summarized as bytes and object counts by kind. Unlike timings and RSS, these counts
 * do not depend on how busy the machine is, so they can guide memory work anywhere.
 *
 * @module
 */

/** What one kind of heap object adds up to. */
export interface HeapKind {
  bytes: number;
  count: number;
}

/** One isolate's heap: its total self size and its objects by kind (type and constructor). */
export interface IsolateHeap {
  /** `main`, or the worker's inspector title (`worker [1]`). */
  name: string;
  bytes: number;
  kinds: Map<string, HeapKind>;
}

/** A command waiting for its answer. */
interface Pending {
  resolve: (m: { error?: { message: string } }) => void;
}

/**
 * Snapshots every isolate of the process whose inspector listens on `port` (main first, then
 * the workers in their inspector order).
 */
export async function heapSnapshots(port: number): Promise<IsolateHeap[]> {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  const sessions: { id: string; name: string }[] = [{ id: "", name: "main" }];
  const chunks = new Map<string, string[]>();
  const pending = new Map<number, Pending>();
  let nextId = 0;
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.method === "HeapProfiler.addHeapSnapshotChunk") {
      chunks.get(m.sessionId ?? "")?.push(m.params.chunk);
    } else if (m.method === "Target.attachedToTarget") {
      sessions.push({ id: m.params.sessionId, name: m.params.targetInfo.title });
    } else if (m.id !== undefined) pending.get(m.id)?.resolve(m);
  };
  // The main thread's session is "", an attached worker's its session id.
  const send = async (method: string, params: unknown, sessionId: string) => {
    const id = ++nextId;
    const reply = new Promise<{ error?: { message: string } }>((resolve) =>
      pending.set(id, { resolve })
    );
    ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    const r = await reply;
    pending.delete(id);
    if (r.error) throw new Error(`${method}: ${r.error.message}`);
  };
  try {
    // Workers attach in reply to this (flattened: their commands carry a session id).
    await send("Target.setAutoAttach", {
      autoAttach: true,
      waitForDebuggerOnStart: false,
      flatten: true,
    }, "");
    const out: IsolateHeap[] = [];
    for (const s of sessions) {
      await send("HeapProfiler.enable", {}, s.id);
      await send("HeapProfiler.collectGarbage", {}, s.id);
      chunks.set(s.id, []);
      await send("HeapProfiler.takeHeapSnapshot", { reportProgress: false }, s.id);
      out.push({ name: s.name, ...summarize(JSON.parse(chunks.get(s.id)!.join(""))) });
      chunks.delete(s.id);
    }
    return out;
  } finally {
    ws.close();
  }
}

/** A V8 heap snapshot (the fields this reads). */
interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

/** Total self size, and self size and count by kind: strings, arrays and code lumped. */
function summarize(s: Snapshot): { bytes: number; kinds: Map<string, HeapKind> } {
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const [type, name, size] = ["type", "name", "self_size"].map((f) => fields.indexOf(f));
  const kinds = new Map<string, HeapKind>();
  let bytes = 0;
  for (let i = 0; i < s.nodes.length; i += fields.length) {
    const t = types[s.nodes[i + type]];
    // Strings, numbers and code are named by their contents: one kind each.
    const lumped = /string|number|code|array/.test(t);
    // Scopes are named by their object id, different in each snapshot.
    const kind = lumped
      ? t
      : `${t} ${s.strings[s.nodes[i + name]].replace(/ @\d+$/, "").slice(0, 60)}`;
    const k = kinds.get(kind) ?? { bytes: 0, count: 0 };
    k.bytes += s.nodes[i + size];
    k.count++;
    kinds.set(kind, k);
    bytes += s.nodes[i + size];
  }
  return { bytes, kinds };
}

/** The kinds that grew most from `before` to `after`, per `n` (bytes and count each). */
export function growth(
  before: IsolateHeap,
  after: IsolateHeap,
  n: number,
  top: number,
): { kind: string; bytes: number; count: number }[] {
  return [...after.kinds].map(([kind, k]) => {
    const b = before.kinds.get(kind) ?? { bytes: 0, count: 0 };
    return { kind, bytes: (k.bytes - b.bytes) / n, count: (k.count - b.count) / n };
  }).sort((x, y) => y.bytes - x.bytes).slice(0, top);
}
