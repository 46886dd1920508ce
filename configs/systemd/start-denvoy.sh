#!/bin/sh
# Started by the hot-restarter for each epoch, with RESTART_EPOCH set (as Envoy's
# hot-restarter.py does). exec: the wrapper signals this process directly.
exec "${DENVOY_BIN:-/opt/denvoy/denvoy}" -c "${DENVOY_CONFIG:-/etc/denvoy/envoy.yaml}" \
  --restart-epoch "${RESTART_EPOCH:?RESTART_EPOCH is set by the hot-restarter}" \
  --drain-time-s "${DENVOY_DRAIN_TIME_S:-30}" \
  --parent-shutdown-time-s "${DENVOY_PARENT_SHUTDOWN_TIME_S:-45}" \
  ${DENVOY_FLAGS:-}
