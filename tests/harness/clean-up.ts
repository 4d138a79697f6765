// Cleanup that runs every step even when one throws: a builder that will not stop must not keep
// the server, the sshd and the containers behind it alive. Each step runs in order (a builder
// before the containers it drives); the errors are all reported together at the end.
//
//   afterAll(() => cleanUp([() => builder?.stop(), () => destroyContainers(), () => server?.stop()]));

export type CleanUpStep = (() => unknown) | undefined;

export async function cleanUp(steps: CleanUpStep[]): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await step?.();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length)
    throw new AggregateError(
      errors,
      `${errors.length} cleanup steps failed: ${errors.map((e) => (e instanceof Error ? e.message : String(e))).join("; ")}`,
    );
}
