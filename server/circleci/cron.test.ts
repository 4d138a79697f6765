import { describe, expect, test } from "bun:test";
import { CronError, nextFire, parseCron } from "./cron.ts";

const at = (iso: string) => Date.parse(iso);
const next = (expr: string, after: string) => {
  const t = nextFire(parseCron(expr), at(after));
  return t === null ? null : new Date(t).toISOString();
};

describe("parseCron", () => {
  test("lists, ranges, steps and names", () => {
    const c = parseCron("*/15 9-17/4 1,15 jan-MAR mon-fri");
    expect([...c.minutes]).toEqual([0, 15, 30, 45]);
    expect([...c.hours]).toEqual([9, 13, 17]);
    expect([...c.daysOfMonth]).toEqual([1, 15]);
    expect([...c.months]).toEqual([1, 2, 3]);
    expect([...c.daysOfWeek]).toEqual([1, 2, 3, 4, 5]);
  });

  test("a start with a step runs to the end; 7 is Sunday; macros", () => {
    expect([...parseCron("5/20 * * * *").minutes]).toEqual([5, 25, 45]);
    expect([...parseCron("0 0 * * 7").daysOfWeek]).toEqual([0]);
    expect([...parseCron("0 0 * * */2").daysOfWeek]).toEqual([0, 2, 4, 6]);
    expect(parseCron("@daily").hours).toEqual(new Set([0]));
    expect(parseCron("@hourly").minutes).toEqual(new Set([0]));
  });

  test.each([
    ["0 3 * *", /five fields/],
    ["60 * * * *", /minute field: 60 is outside 0-59/],
    ["0 24 * * *", /hour field/],
    ["0 0 0 * *", /day of month field: 0/],
    ["0 0 * 13 *", /month field/],
    ["0 0 * * 8", /day of week field/],
    ["0 0 * foo *", /not a number or name/],
    ["5-1 * * * *", /runs backwards/],
    ["*/0 * * * *", /step 0/],
    ["0 0 30 2 *", /names no day that exists/],
    ["1,,2 * * * *", /not a value/],
  ])("%s is refused", (expr, message) => {
    expect(() => parseCron(expr)).toThrow(CronError);
    expect(() => parseCron(expr)).toThrow(message);
  });
});

describe("nextFire (UTC)", () => {
  test("strictly after the given time, to the minute", () => {
    expect(next("0 3 * * *", "2026-12-05T02:59:59.999Z")).toBe("2026-12-05T03:00:00.000Z");
    expect(next("0 3 * * *", "2026-12-05T03:00:00.000Z")).toBe("2026-12-06T03:00:00.000Z");
    expect(next("* * * * *", "2026-12-05T03:00:30.000Z")).toBe("2026-12-05T03:01:00.000Z");
  });

  test("across a month and a year end", () => {
    expect(next("30 23 31 * *", "2026-11-01T00:00:00Z")).toBe("2026-12-31T23:30:00.000Z");
    expect(next("0 0 1 * *", "2026-12-31T23:59:00Z")).toBe("2027-01-01T00:00:00.000Z");
    // April has no 31st: the next one is in May.
    expect(next("0 12 31 * *", "2027-04-01T00:00:00Z")).toBe("2027-05-31T12:00:00.000Z");
  });

  test("Feb 29 waits for a leap year", () => {
    expect(next("0 0 29 2 *", "2027-03-01T00:00:00Z")).toBe("2028-02-29T00:00:00.000Z");
    expect(next("0 0 29 2 *", "2096-03-01T00:00:00Z")).toBe("2104-02-29T00:00:00.000Z");
  });

  test("no daylight saving: UTC hours are kept through March and October", () => {
    expect(next("30 2 * * *", "2027-03-28T00:00:00Z")).toBe("2027-03-28T02:30:00.000Z");
    expect(next("30 2 * * *", "2027-10-31T02:30:00Z")).toBe("2027-11-01T02:30:00.000Z");
  });

  test("both day fields restricted: either one fires (cron's OR rule)", () => {
    // 2026-12-05 is a Saturday. `0 0 13 * 1`: the 13th or any Monday.
    expect(next("0 0 13 * 1", "2026-12-05T00:00:00Z")).toBe("2026-12-07T00:00:00.000Z");
    expect(next("0 0 13 * 1", "2026-12-12T00:00:00Z")).toBe("2026-12-13T00:00:00.000Z");
  });

  test("one day field is *: only the other applies", () => {
    // Mondays only (day of month *), and the 13th only (day of week *).
    expect(next("0 0 * * mon", "2026-12-05T00:00:00Z")).toBe("2026-12-07T00:00:00.000Z");
    expect(next("0 0 13 * *", "2026-12-05T00:00:00Z")).toBe("2026-12-13T00:00:00.000Z");
    // `*/2` in day of month still counts as `*` for the OR rule (it starts with *), as in Vixie cron.
    expect(next("0 0 */2 * fri", "2026-12-05T00:00:00Z")).toBe("2026-12-11T00:00:00.000Z");
  });

  test("months and weekdays by name", () => {
    expect(next("15 6 * JUN SUN", "2026-12-05T00:00:00Z")).toBe("2027-06-06T06:15:00.000Z");
  });
});
