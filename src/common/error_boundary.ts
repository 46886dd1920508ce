/**
 * The data path's error boundary, Envoy's `ENVOY_BUG` for an isolate that must not die. Every
 * entry point into the data path (socket reads and writes, timers, promise continuations of
 * the router and the pools) catches what escapes it and hands it here: the error is counted in
 * `server.envoy_bug_failures` (Envoy's counter for bugs caught in a release build), logged
 * with its stack at exponential back-off (the 1st, 2nd, 4th, 8th, ... occurrence, as Envoy
 * logs ENVOY_BUG), and the one stream or connection it belonged to is abandoned through its
 * `BugScope` — a 500 local reply if nothing was sent yet, else a reset. Other streams and the
 * worker go on.
 *
 * The catch sits at those few entry points only (a try/catch that does not throw costs
 * nothing in V8), not around each filter call or in a closure per request.
 *
 * @module
 */
import { getLogger } from "./logger.ts";
import type { Counter } from "../stats/metrics.ts";

const log = getLogger("envoy_bug");

/** Envoy's response code details for a stream ended by a caught bug. */
export const BUG_DETAILS = "envoy_bug_failure";

/** Something that can abandon its work when an exception escaped it. */
export interface BugScope {
  /** Ends the work `error` interrupted (a stream, a connection), leaving the rest running. */
  onBug(error: unknown): void;
}

let counter: Counter | undefined;
let reported = 0;

/** Where this isolate counts caught bugs (`server.envoy_bug_failures` of its store). */
export function setBugCounter(c: Counter | undefined): void {
  counter = c;
}

/** How many bugs this isolate caught (tests). */
export function bugCount(): number {
  return reported;
}

/** Counts and logs a caught exception; `where` names the entry point. */
export function reportBug(where: string, error: unknown): void {
  counter?.inc();
  const n = ++reported;
  if ((n & (n - 1)) !== 0) return;
  const what = error instanceof Error ? (error.stack ?? error.message) : String(error);
  log.error(`envoy bug failure in ${where} (${n} so far): ${what}`);
}

/**
 * Reports a caught exception and lets `scope` abandon the work it interrupted. An exception
 * while abandoning is reported too and goes no further.
 */
export function containBug(scope: BugScope | undefined, where: string, error: unknown): void {
  reportBug(where, error);
  if (scope === undefined) return;
  try {
    scope.onBug(error);
  } catch (e) {
    reportBug(`${where} (while abandoning)`, e);
  }
}
