// Preloaded into a profiled server (bench:fanout --profile): exit normally on SIGTERM, so Bun
// writes the CPU profile (the server itself has no SIGTERM handler and dies without one).
process.on("SIGTERM", () => process.exit(0));
