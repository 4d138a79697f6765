// Standard five-field cron (minute hour day-of-month month day-of-week), always in UTC: lists, ranges,
// steps, month and weekday names, 7 for Sunday, the @daily-style macros, and cron's rule that when both
// day fields are restricted a day matching either one fires.

export interface Cron {
  source: string;
  minutes: Set<number>;
  hours: Set<number>;
  daysOfMonth: Set<number>;
  months: Set<number>;
  daysOfWeek: Set<number>;
  /** Both day fields restricted (neither starts with `*`): a day fires when either matches. */
  eitherDay: boolean;
  domStar: boolean;
  dowStar: boolean;
}

export class CronError extends Error {}

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const MACROS: Record<string, string> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** The first name's value (months count from 1, weekdays from 0). */
  nameBase?: number;
}

const FIELDS: FieldSpec[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTHS, nameBase: 1 },
  { name: "day of week", min: 0, max: 7, names: DAYS, nameBase: 0 },
];

export function parseCron(source: string): Cron {
  const text = source.trim();
  const expanded = MACROS[text.toLowerCase()] ?? text;
  const parts = expanded.split(/\s+/);
  if (parts.length !== 5)
    throw new CronError(
      `a cron expression has five fields (minute hour day-of-month month day-of-week), not ${parts.length}`,
    );
  const [minutes, hours, daysOfMonth, months, dow] = parts.map((p, i) => parseField(p, FIELDS[i]));
  // 7 is Sunday too.
  if (dow.delete(7)) dow.add(0);
  const domStar = parts[2].startsWith("*");
  const dowStar = parts[4].startsWith("*");
  const cron: Cron = {
    source: text,
    minutes,
    hours,
    daysOfMonth,
    months,
    daysOfWeek: dow,
    eitherDay: !domStar && !dowStar,
    domStar,
    dowStar,
  };
  // `0 0 30 2 *` never fires: refuse it rather than keep a schedule that never runs.
  if (nextFire(cron, Date.UTC(2000, 0, 1)) === null)
    throw new CronError(`${JSON.stringify(text)} names no day that exists`);
  return cron;
}

function parseField(text: string, f: FieldSpec): Set<number> {
  const out = new Set<number>();
  if (text === "") throw new CronError(`the ${f.name} field is empty`);
  for (const item of text.split(",")) {
    const m = /^([^/]+)(?:\/(\d+))?$/.exec(item);
    if (!m) throw new CronError(`the ${f.name} field: ${JSON.stringify(item)} is not a value, range or step`);
    const [, range, stepText] = m;
    const step = stepText === undefined ? 1 : Number(stepText);
    if (step < 1 || step > f.max)
      throw new CronError(`the ${f.name} field: step ${stepText} is out of range`);
    let lo: number;
    let hi: number;
    if (range === "*") {
      lo = f.min;
      hi = f.name === "day of week" ? 6 : f.max;
    } else {
      const dash = range.split("-");
      if (dash.length > 2)
        throw new CronError(`the ${f.name} field: ${JSON.stringify(range)} is not a value or range`);
      lo = value(dash[0], f);
      // `5/15` means 5 to the end, every 15.
      hi = dash.length === 2 ? value(dash[1], f) : stepText !== undefined ? f.max : lo;
      if (hi < lo) throw new CronError(`the ${f.name} field: range ${range} runs backwards`);
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

function value(text: string, f: FieldSpec): number {
  let v: number;
  if (/^\d{1,2}$/.test(text)) v = Number(text);
  else {
    const i = f.names?.indexOf(text.toUpperCase()) ?? -1;
    if (i < 0) throw new CronError(`the ${f.name} field: ${JSON.stringify(text)} is not a number or name`);
    v = i + (f.nameBase ?? 0);
  }
  if (v < f.min || v > f.max) throw new CronError(`the ${f.name} field: ${v} is outside ${f.min}-${f.max}`);
  return v;
}

function dayMatches(cron: Cron, d: Date): boolean {
  const dom = cron.daysOfMonth.has(d.getUTCDate());
  const dow = cron.daysOfWeek.has(d.getUTCDay());
  if (cron.eitherDay) return dom || dow;
  if (cron.domStar && cron.dowStar) return true;
  return cron.domStar ? dow : dom;
}

const MINUTE = 60_000;
/** Far enough to find a Feb 29 (leap years can be 8 years apart across a century). */
const HORIZON_MS = 9 * 366 * 24 * 60 * MINUTE;

/** The first minute strictly after `after` (ms since the epoch) that `cron` fires at; null if none. */
export function nextFire(cron: Cron, after: number): number | null {
  const d = new Date(Math.floor(after / MINUTE) * MINUTE + MINUTE);
  const limit = after + HORIZON_MS;
  while (d.getTime() <= limit) {
    if (!cron.months.has(d.getUTCMonth() + 1)) {
      d.setUTCMonth(d.getUTCMonth() + 1, 1);
      d.setUTCHours(0, 0, 0, 0);
    } else if (!dayMatches(cron, d)) {
      d.setUTCDate(d.getUTCDate() + 1);
      d.setUTCHours(0, 0, 0, 0);
    } else if (!cron.hours.has(d.getUTCHours())) {
      d.setUTCHours(d.getUTCHours() + 1, 0, 0, 0);
    } else if (!cron.minutes.has(d.getUTCMinutes())) {
      d.setUTCMinutes(d.getUTCMinutes() + 1, 0, 0);
    } else return d.getTime();
  }
  return null;
}
