/** English day and month names, as C's `%a %A %b %B` print them (log lines, access logs). */

/** `%A`: Sunday first, as `Date.getDay()` counts. */
export const LONG_DAYS = [
  "Sunday",
  "Monday",
  "Tuesday",
  "Wednesday",
  "Thursday",
  "Friday",
  "Saturday",
] as const;
/** `%a`. */
export const DAYS = LONG_DAYS.map((d) => d.slice(0, 3));
/** `%B`: January first, as `Date.getMonth()` counts. */
export const LONG_MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
] as const;
/** `%b`, `%h`. */
export const MONTHS = LONG_MONTHS.map((m) => m.slice(0, 3));
