/**
 * The stats endpoints: `/stats` (text, `format=json|prometheus`, `filter=`, `usedonly`,
 * `type=`, `histogram_buckets=`), `/stats/prometheus` and `POST /reset_counters`, with Envoy's
 * parameter checks and error messages.
 *
 * @module
 */
import {
  compileStatsFilter,
  type HistogramBucketsMode,
  renderJson,
  renderText,
} from "../stats/format.ts";
import { renderPrometheusBytes } from "../stats/prometheus.ts";
import type { StoreSnapshot } from "../stats/snapshot.ts";
import type { TagProducer } from "../stats/tag_extractor.ts";
import { type Handler, queryParam, rawJson, text, textBytes } from "./handler.ts";

/** What the stats endpoints need of the server. */
export interface StatsAdmin {
  /** Every isolate's stats, merged. */
  statsSnapshot(): Promise<StoreSnapshot>;
  /** Tag extraction for Prometheus names and labels. */
  statsTags(): TagProducer;
  resetCounters(): void;
}

/** Envoy's `type=` values. */
const TYPES = ["All", "Counters", "Gauges", "Histograms", "TextReadouts"] as const;
type StatsType = typeof TYPES[number];

/** Parsed `/stats` parameters, or the 400 message Envoy answers with. */
export interface StatsParams {
  usedOnly: boolean;
  filter?: (name: string) => boolean;
  histogramBuckets: HistogramBucketsMode;
  type: StatsType;
  format: "text" | "json" | "prometheus";
}

/** Reads the `/stats` query as Envoy's `StatsParams::parse` does. */
export function parseStatsParams(q: URLSearchParams): StatsParams | string {
  const params: StatsParams = {
    usedOnly: q.has("usedonly"),
    histogramBuckets: "none",
    type: "All",
    format: "text",
  };
  const f = q.get("filter");
  if (f) {
    try {
      params.filter = compileStatsFilter(f);
    } catch {
      return "Invalid re2 regex";
    }
  }
  const buckets = queryParam(q, "histogram_buckets");
  if (buckets !== undefined) {
    if (!["cumulative", "disjoint", "detailed", "none"].includes(buckets)) {
      return "usage: /stats?histogram_buckets=(cumulative|disjoint|none)\n";
    }
    params.histogramBuckets = buckets as HistogramBucketsMode;
  }
  const type = q.get("type");
  if (type !== null) {
    if (!(TYPES as readonly string[]).includes(type)) return "invalid &type= param";
    params.type = type as StatsType;
  }
  const format = queryParam(q, "format");
  if (format !== undefined) {
    if (format !== "text" && format !== "json" && format !== "prometheus") {
      return "usage: /stats?format=(html|active-html|json|prometheus|text)\n\n";
    }
    params.format = format;
  }
  return params;
}

/** Keeps only the stats of one type (`type=`). */
function ofType(s: StoreSnapshot, type: StatsType): StoreSnapshot {
  if (type === "All") return s;
  return {
    counters: type === "Counters" ? s.counters : [],
    gauges: type === "Gauges" ? s.gauges : [],
    histograms: type === "Histograms" ? s.histograms : [],
    textReadouts: type === "TextReadouts" ? s.textReadouts : [],
  };
}

const USED_ONLY = {
  id: "usedonly",
  flag: true,
  help: "Only include stats that have been written by system since restart",
};
const FILTER = { id: "filter", help: "Regular expression (Google re2) for filtering stats" };

/** The stats endpoints. */
export function statsHandlers(server: StatsAdmin): Handler[] {
  return [
    {
      path: "/reset_counters",
      help: "reset all counters to zero",
      post: true,
      params: [],
      run: (c) => (server.resetCounters(), text(c, "OK\n")),
    },
    {
      path: "/stats",
      help: "print server stats",
      post: false,
      params: [
        USED_ONLY,
        FILTER,
        { id: "format", help: "Format to use", choices: ["text", "json", "prometheus"] },
        { id: "type", help: "Stat types to include.", choices: [...TYPES] },
        {
          id: "histogram_buckets",
          help: "Histogram bucket display mode",
          choices: ["cumulative", "disjoint", "detailed", "none"],
        },
      ],
      run: async (c, q) => {
        const p = parseStatsParams(q);
        if (typeof p === "string") return text(c, p, 400);
        const snap = ofType(await server.statsSnapshot(), p.type);
        const opts = { usedOnly: p.usedOnly, filter: p.filter };
        if (p.format === "prometheus") {
          return textBytes(c, renderPrometheusBytes(snap, server.statsTags(), opts));
        }
        const render = { ...opts, histogramBuckets: p.histogramBuckets };
        return p.format === "json"
          ? rawJson(c, renderJson(snap, render))
          : text(c, renderText(snap, render));
      },
    },
    {
      path: "/stats/prometheus",
      help: "print server stats in prometheus format",
      post: false,
      params: [USED_ONLY, FILTER],
      run: async (c, q) => {
        const p = parseStatsParams(q);
        if (typeof p === "string") return text(c, p, 400);
        const snap = await server.statsSnapshot();
        return textBytes(
          c,
          renderPrometheusBytes(snap, server.statsTags(), {
            usedOnly: p.usedOnly,
            filter: p.filter,
          }),
        );
      },
    },
  ];
}
