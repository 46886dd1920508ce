/**
 * Per-host request results that every worker writes and the main thread reads: the input of
 * outlier detection (Envoy's `DetectorHostMonitor`), and whether the cluster has had traffic
 * (which picks active health checking's `no_traffic_interval`). Each host of a cluster with
 * outlier detection or health checks carries a small Int32Array over a SharedArrayBuffer
 * ({@linkcode HostDescription.monitor}); the main thread creates it, membership snapshots carry
 * it to workers (structured clone shares the memory), and recording a result is a few atomic
 * adds with no allocation. A consecutive-error threshold reached is posted to the main thread
 * at once (rare), which decides the ejection, as Envoy's workers post to its main thread.
 *
 * @module
 */
// Slots of a host monitor (plain constants: the data path indexes with them).
export const CONSECUTIVE_5XX = 0;
export const CONSECUTIVE_GATEWAY_FAILURE = 1;
export const CONSECUTIVE_LOCAL_ORIGIN_FAILURE = 2;
/** External origin (HTTP status) results: total and successes, cumulative. */
export const EXTERNAL_TOTAL = 3;
export const EXTERNAL_SUCCESS = 4;
/** Local origin (connect, reset, timeout) results with split_external_local_origin_errors. */
export const LOCAL_TOTAL = 5;
export const LOCAL_SUCCESS = 6;
/** Set once a worker connected to the host (the cluster has had traffic). */
export const TRAFFIC = 7;
/** Thresholds the workers compare against (0: that detector is off), set by the main thread. */
const THRESHOLD_5XX = 8;
const THRESHOLD_GATEWAY_FAILURE = 9;
const THRESHOLD_LOCAL_ORIGIN_FAILURE = 10;
/** 1 with split_external_local_origin_errors. */
const SPLIT = 11;
/** The monitor's id: workers name the host by it when they post to the main thread. */
export const ID = 12;
/** 1 when the cluster has active health checks (x-envoy-immediate-health-check-fail applies). */
export const ACTIVE_HC = 13;

/**
 * From here on, connections open to the host (`per_host_thresholds.max_connections`): one cell
 * for the main thread, then one per worker, so that what a worker that died held can be given
 * back.
 */
const CONNECTIONS = 14;

/** The fixed part; the connection cells follow it. */
const SLOTS = CONNECTIONS;

/** A consecutive-error detector a worker reports crossing. */
export type ConsecutiveKind = "5xx" | "gateway" | "local_origin";

/** What a worker posts to the main thread about a host. */
export type HostEvent = ConsecutiveKind | "immediate_hc_fail";

/** Where a worker posts a crossed threshold; set by the worker isolate at start. */
let notify: ((monitorId: number, event: HostEvent) => void) | undefined;

/** Sets where crossed consecutive-error thresholds go (the worker posts them to main). */
export function setConsecutiveNotifier(
  fn: ((monitorId: number, event: HostEvent) => void) | undefined,
): void {
  notify = fn;
}

/** This isolate's connection cell: 0 on the main thread, 1 + id in a worker. */
let connectionCell = CONNECTIONS;

/** Sets the worker whose connections this isolate counts (the worker isolate at start). */
export function setHostMonitorWorker(workerId: number): void {
  connectionCell = CONNECTIONS + 1 + workerId;
}

/** A fresh shared monitor with its thresholds, with connection cells for `workerSlots`. */
export function newHostMonitor(
  id: number,
  thresholds: { c5xx: number; gateway: number; localOrigin: number; split: boolean } | undefined,
  activeHc: boolean,
  workerSlots = 0,
): Int32Array {
  const m = new Int32Array(new SharedArrayBuffer((SLOTS + 1 + workerSlots) * 4));
  m[ID] = id;
  m[ACTIVE_HC] = activeHc ? 1 : 0;
  if (thresholds) {
    m[THRESHOLD_5XX] = thresholds.c5xx;
    m[THRESHOLD_GATEWAY_FAILURE] = thresholds.gateway;
    m[THRESHOLD_LOCAL_ORIGIN_FAILURE] = thresholds.localOrigin;
    m[SPLIT] = thresholds.split ? 1 : 0;
  }
  return m;
}

/** Updates the consecutive-error thresholds the workers compare against. */
export function setConsecutiveThresholds(
  m: Int32Array,
  c5xx: number,
  gateway: number,
  localOrigin: number,
): void {
  if (m[THRESHOLD_5XX] !== c5xx) Atomics.store(m, THRESHOLD_5XX, c5xx);
  if (m[THRESHOLD_GATEWAY_FAILURE] !== gateway) {
    Atomics.store(m, THRESHOLD_GATEWAY_FAILURE, gateway);
  }
  if (m[THRESHOLD_LOCAL_ORIGIN_FAILURE] !== localOrigin) {
    Atomics.store(m, THRESHOLD_LOCAL_ORIGIN_FAILURE, localOrigin);
  }
}

// Envoy's outlier `Result`s that are not an HTTP status.
/** Connected (HTTP: the status that follows is reported separately). */
export const CONNECT_SUCCESS = 0;
/** Connect failure or reset. */
export const CONNECT_FAILED = 1;
/** The upstream did not answer in time. */
export const TIMEOUT = 2;

/**
 * An upstream response carried x-envoy-immediate-health-check-fail: with active health
 * checking, the main thread fails the host at once (Envoy's `setUnhealthy`).
 */
export function putImmediateHealthCheckFail(m: Int32Array): void {
  if (m[ACTIVE_HC] === 1) notify?.(m[ID], "immediate_hc_fail");
}

/** A worker connected to the host: the cluster has had traffic. */
export function recordTraffic(m: Int32Array): void {
  if (m[TRAFFIC] === 0) Atomics.store(m, TRAFFIC, 1);
}

/**
 * An HTTP response status from the host (Envoy's `putHttpResponseCode`): 5xx counts towards
 * consecutive 5xx, 502/503/504 also towards consecutive gateway failures, anything else resets
 * both and counts as a success for the success rate.
 */
export function putHttpStatus(m: Int32Array, status: number): void {
  Atomics.add(m, EXTERNAL_TOTAL, 1);
  if (status >= 500 && status < 600) {
    if (status >= 502 && status <= 504) {
      const n = Atomics.add(m, CONSECUTIVE_GATEWAY_FAILURE, 1) + 1;
      if (n === m[THRESHOLD_GATEWAY_FAILURE]) notify?.(m[ID], "gateway");
    } else Atomics.store(m, CONSECUTIVE_GATEWAY_FAILURE, 0);
    const n = Atomics.add(m, CONSECUTIVE_5XX, 1) + 1;
    if (n === m[THRESHOLD_5XX]) notify?.(m[ID], "5xx");
  } else {
    Atomics.add(m, EXTERNAL_SUCCESS, 1);
    // Plain reads first: the common case (no errors in a row) writes nothing shared.
    if (m[CONSECUTIVE_5XX] !== 0) Atomics.store(m, CONSECUTIVE_5XX, 0);
    if (m[CONSECUTIVE_GATEWAY_FAILURE] !== 0) Atomics.store(m, CONSECUTIVE_GATEWAY_FAILURE, 0);
  }
}

/**
 * A locally originated result (Envoy's `putResult`). Without split_external_local_origin_errors
 * a failed connect or reset counts as a 503 and a timeout as a 504 (a connect success counts
 * nothing: the response status that follows does); with it, they feed the local-origin
 * detectors only.
 */
export function putLocalResult(m: Int32Array, result: number): void {
  if (m[SPLIT] === 0) {
    if (result === CONNECT_FAILED) putHttpStatus(m, 503);
    else if (result === TIMEOUT) putHttpStatus(m, 504);
    return;
  }
  Atomics.add(m, LOCAL_TOTAL, 1);
  if (result === CONNECT_SUCCESS) {
    Atomics.add(m, LOCAL_SUCCESS, 1);
    if (m[CONSECUTIVE_LOCAL_ORIGIN_FAILURE] !== 0) {
      Atomics.store(m, CONSECUTIVE_LOCAL_ORIGIN_FAILURE, 0);
    }
    return;
  }
  const n = Atomics.add(m, CONSECUTIVE_LOCAL_ORIGIN_FAILURE, 1) + 1;
  if (n === m[THRESHOLD_LOCAL_ORIGIN_FAILURE]) notify?.(m[ID], "local_origin");
}

/** Connections open to the host from every isolate. */
export function hostConnections(m: Int32Array): number {
  let n = 0;
  for (let i = CONNECTIONS; i < m.length; i++) n += Atomics.load(m, i);
  return n;
}

/** This isolate opened a connection to the host. */
export function hostConnectionOpened(m: Int32Array): void {
  Atomics.add(m, connectionCell < m.length ? connectionCell : CONNECTIONS, 1);
}

/** This isolate's connection to the host closed (or its attempt failed). */
export function hostConnectionClosed(m: Int32Array): void {
  Atomics.sub(m, connectionCell < m.length ? connectionCell : CONNECTIONS, 1);
}

/** Worker `workerId` is gone: its connections no longer count. */
export function releaseWorkerHostConnections(m: Int32Array, workerId: number): void {
  const cell = CONNECTIONS + 1 + workerId;
  if (cell < m.length) Atomics.store(m, cell, 0);
}
