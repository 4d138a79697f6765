// Every sandbox name starts with `cairn-`: that is how the orphan reaper finds leftovers.

export const SANDBOX_PREFIX = "cairn-";
const NAME_OK = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** `job-42` → `cairn-job-42`; names already prefixed are kept. Throws on unsafe characters. */
export function sandboxName(name: string): string {
  const full = name.startsWith(SANDBOX_PREFIX) ? name : `${SANDBOX_PREFIX}${name}`;
  if (!NAME_OK.test(full)) {
    throw new Error(
      `invalid sandbox name ${JSON.stringify(full)}: letters, digits, '-', '_', '.', at most 63`,
    );
  }
  return full;
}
