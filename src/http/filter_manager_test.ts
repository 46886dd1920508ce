import { assertEquals } from "../testing/assert.ts";
import { StreamInfo } from "../stream_info/stream_info.ts";
import type { StreamFilter, StreamFilterCallbacks } from "./filter.ts";
import { FilterManager, type StreamSink } from "./filter_manager.ts";
import { HeaderMap } from "./header_map.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A sink that records what reaches the codec. */
function sink(events: string[]): StreamSink {
  return {
    streamInfo: new StreamInfo(),
    connection: { id: 1, remoteAddress: "127.0.0.1:1", localAddress: "127.0.0.1:2" },
    route: () => undefined,
    clearRouteCache: () => {},
    perFilterConfig: () => undefined,
    localReply: (status, body) => events.push(`local ${status} ${body}`),
    writeHeaders: (h, end) => events.push(`out headers ${h.get(":status")} ${end}`),
    writeData: (d, end) => events.push(`out data ${dec.decode(d)} ${end}`),
    writeTrailers: () => events.push("out trailers"),
    reset: (d) => events.push(`reset ${d}`),
    onBug: () => events.push("bug"),
    readDisable: () => {},
    writable: () => true,
    onWritable: () => {},
    bufferLimit: 1024 * 1024,
    recreateStream: (h) => events.push(`recreate ${h.get(":path")}`),
  };
}

/** A filter that logs its calls and can be told to stop. */
function recorder(name: string, events: string[], stopHeaders = false, bufferData = false) {
  let cb!: StreamFilterCallbacks;
  const f = (c: StreamFilterCallbacks): StreamFilter => {
    cb = c;
    return {
      decoder: {
        decodeHeaders: (_h, end) => {
          events.push(`${name} decodeHeaders ${end}`);
          return stopHeaders ? "stop" : "continue";
        },
        decodeData: (d, end) => {
          events.push(`${name} decodeData ${dec.decode(d)} ${end}`);
          return bufferData ? "stopAndBuffer" : "continue";
        },
      },
      encoder: {
        encodeHeaders: () => {
          events.push(`${name} encodeHeaders`);
          return "continue";
        },
        encodeData: (d) => {
          events.push(`${name} encodeData ${dec.decode(d)}`);
          return "continue";
        },
      },
    };
  };
  return { factory: f, callbacks: () => cb };
}

/** A terminal filter that answers with the request body it received. */
function echoTerminal(events: string[]) {
  let body = "";
  return (c: StreamFilterCallbacks): StreamFilter => ({
    decoder: {
      decodeHeaders: () => "stop",
      decodeData: (d, end) => {
        body += dec.decode(d);
        if (end) {
          events.push(`terminal got ${body}`);
          c.encodeHeaders(new HeaderMap([":status", "200"]), false);
          c.encodeData(enc.encode(body), true);
        }
        return "stopNoBuffer";
      },
    },
  });
}

Deno.test("decoders run in order, encoders in reverse order, the terminal filter answers", () => {
  const ev: string[] = [];
  const a = recorder("a", ev);
  const b = recorder("b", ev);
  const fm = new FilterManager(sink(ev), [a.factory, b.factory, echoTerminal(ev)]);
  fm.decodeHeaders(new HeaderMap([":method", "POST"]), false);
  fm.decodeData(enc.encode("hi"), true);
  assertEquals(ev, [
    "a decodeHeaders false",
    "b decodeHeaders false",
    "a decodeData hi true",
    "b decodeData hi true",
    "terminal got hi",
    "b encodeHeaders",
    "a encodeHeaders",
    "out headers 200 false",
    "b encodeData hi",
    "a encodeData hi",
    "out data hi true",
  ]);
});

Deno.test("a filter that stops headers holds later filters and data until it continues", () => {
  const ev: string[] = [];
  const a = recorder("a", ev, true);
  const b = recorder("b", ev);
  const fm = new FilterManager(sink(ev), [a.factory, b.factory, echoTerminal(ev)]);
  fm.decodeHeaders(new HeaderMap([":method", "POST"]), false);
  fm.decodeData(enc.encode("x"), false);
  fm.decodeData(enc.encode("y"), true);
  assertEquals(ev, ["a decodeHeaders false"]);
  a.callbacks().continueDecoding();
  // Held data then goes through every filter (the stopped one had not seen it), as one chunk.
  assertEquals(ev.slice(1, 5), [
    "b decodeHeaders false",
    "a decodeData xy true",
    "b decodeData xy true",
    "terminal got xy",
  ]);
});

Deno.test("stopAndBuffer holds data at the filter until it continues", () => {
  const ev: string[] = [];
  const a = recorder("a", ev, false, true);
  const fm = new FilterManager(sink(ev), [a.factory, echoTerminal(ev)]);
  fm.decodeHeaders(new HeaderMap([":method", "POST"]), false);
  fm.decodeData(enc.encode("1"), false);
  fm.decodeData(enc.encode("2"), true);
  assertEquals(ev, ["a decodeHeaders false", "a decodeData 1 false"]);
  a.callbacks().continueDecoding();
  assertEquals(ev[2], "terminal got 12");
});

Deno.test("a local reply from a decoder stops the request path", () => {
  const ev: string[] = [];
  const auth = (c: StreamFilterCallbacks): StreamFilter => ({
    decoder: {
      decodeHeaders: () => {
        c.sendLocalReply(403, "denied");
        return "stop";
      },
    },
  });
  const later = recorder("later", ev);
  const fm = new FilterManager(sink(ev), [auth, later.factory, echoTerminal(ev)]);
  fm.localReplied = false;
  const s = fm.sink as StreamSink & { localReply: (s: number, b: string) => void };
  s.localReply = (status, body) => {
    ev.push(`local ${status} ${body}`);
    fm.localReplied = true;
  };
  fm.decodeHeaders(new HeaderMap([":method", "GET"]), true);
  assertEquals(ev, ["local 403 denied"]);
});

Deno.test("destroy calls onDestroy once per filter", () => {
  const ev: string[] = [];
  const f = (): StreamFilter => {
    const both = {
      decodeHeaders: () => "continue" as const,
      encodeHeaders: () => "continue" as const,
      onDestroy: () => ev.push("destroyed"),
    };
    return { decoder: both, encoder: both };
  };
  const fm = new FilterManager(sink(ev), [f]);
  fm.destroy();
  fm.destroy();
  assertEquals(ev, ["destroyed"]);
});

Deno.test("an encoder filter's stopped trailers resume on continueEncoding", () => {
  const ev: string[] = [];
  let cb!: StreamFilterCallbacks;
  const holder = (c: StreamFilterCallbacks): StreamFilter => {
    cb = c;
    return {
      encoder: {
        encodeHeaders: () => "continue",
        encodeTrailers: () => "stop",
      },
    };
  };
  const fm = new FilterManager(sink(ev), [holder, echoTerminal(ev)]);
  fm.encodeHeaders(new HeaderMap([":status", "200"]), false);
  fm.encodeTrailers(new HeaderMap(["grpc-status", "0"]));
  assertEquals(ev, ["out headers 200 false"]);
  cb.continueEncoding();
  assertEquals(ev, ["out headers 200 false", "out trailers"]);
});

Deno.test("an encoder filter above its buffer limit makes the stream unwritable until it drains", () => {
  const ev: string[] = [];
  let cb!: StreamFilterCallbacks;
  const f = (c: StreamFilterCallbacks): StreamFilter => {
    cb = c;
    return { decoder: { decodeHeaders: () => "continue" } };
  };
  new FilterManager(sink(ev), [f, echoTerminal(ev)]);
  assertEquals(cb.downstreamWritable(), true);
  cb.onEncoderFilterAboveWriteBufferHighWatermark();
  assertEquals(cb.downstreamWritable(), false);
  cb.onDownstreamWritable(() => ev.push("writable"));
  assertEquals(ev, []);
  cb.onEncoderFilterBelowWriteBufferLowWatermark();
  assertEquals([cb.downstreamWritable(), ev], [true, ["writable"]]);
});
