// Times, durations and statuses as people read them.
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function duration(
  fromIso: string | null | undefined,
  toIso: string | null | undefined,
  now = Date.now(),
): string {
  if (!fromIso) return "";
  const ms = (toIso ? Date.parse(toIso) : now) - Date.parse(fromIso);
  if (ms < 1000) return `${Math.max(0, ms)}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

export function localTime(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : "";
}

export const TERMINAL = new Set(["success", "failed", "canceled", "lost", "skipped", "not_run"]);
export const isTerminal = (status: string) => TERMINAL.has(status);
