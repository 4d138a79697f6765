// A job's re-run actions (plain, or with SSH) and, for a job re-run with SSH, the `ssh` command once a
// builder with an SSH server holds it, with a copy button.
import { api } from "../api.ts";
import { copyable, errorBox } from "../components.ts";
import { h } from "../dom.ts";
import { isTerminal } from "../format.ts";
import { navigate } from "../router.ts";
import type { Job } from "../types.ts";

/** "Re-run" and "Re-run with SSH" for a finished job; each opens the new attempt's page. */
export function rerunActions(job: Job): HTMLElement[] {
  const status = h("span.form-status", { "aria-live": "polite" });
  const button = (label: string, ssh: boolean) => {
    const key = ssh ? "rerun-ssh" : "rerun";
    const b = h("button", { type: "button", class: key, "data-key": key }, label);
    b.addEventListener("click", async () => {
      b.disabled = true;
      status.replaceChildren();
      try {
        const r = await api<{ job_id: string }>(`/jobs/${job.id}/rerun`, { method: "POST", json: { ssh } });
        navigate(`/jobs/${r.job_id}`);
      } catch (err) {
        status.replaceChildren(errorBox(err));
        b.disabled = false;
      }
    });
    return b;
  };
  return [button("Re-run", false), button("Re-run with SSH", true), status];
}

/** The SSH panel of a job re-run with SSH; null for any other job. `keys`: the user's SSH keys, if known. */
export function sshPanel(job: Job, keys: number | null = null): HTMLElement | null {
  if (!job.ssh?.enabled) return null;
  const stepsDone = job.steps.length > 0 && job.steps.every((s) => isTerminal(s.status));
  const state = !job.ssh.command
    ? "pending"
    : isTerminal(job.status)
      ? "closed"
      : stepsDone
        ? "waiting"
        : "running";
  const text: Record<string, string> = {
    pending: "SSH was asked for: the command appears here once a builder with an SSH server takes the job.",
    running: "The steps are running; once they end, the container stays up for SSH.",
    waiting: "The steps have ended and the container is waiting for you:",
    closed: "The job has finished and its container is gone; this command no longer connects.",
  };
  return h(
    "section.ssh-access.card",
    { "aria-labelledby": "ssh-title", "data-state": state },
    h("h2#ssh-title", null, "SSH into this job"),
    h("p", null, text[state]),
    keys === 0 &&
      state !== "closed" &&
      h(
        "p.warning.no-ssh-key",
        null,
        "You have no SSH key yet, so the server will not let you in: ",
        h("a", { href: "/settings#ssh-keys" }, "add your public key"),
        " first.",
      ),
    job.ssh.command && copyable(job.ssh.command, "SSH command", "ssh-command"),
    job.ssh.command &&
      h(
        "p.muted",
        null,
        "Only keys you added under ",
        h("a", { href: "/settings" }, "your settings"),
        " are let in, and only if you have the write role in this project. Sessions are audited.",
      ),
  );
}
