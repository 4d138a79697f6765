// The scheduler as the routes and services see it: one object over its three parts in scheduler/ —
// leases (leases.ts), job payloads (payloads.ts), and workflow state and approvals
// (workflow-state.ts) — built from the ports it is given. It holds no rule of its own.
import type { Db } from "../db/client.ts";
import type { LogService } from "../logs/service.ts";
import type { EventLog } from "./events.ts";
import { Leases } from "./scheduler/leases.ts";
import { type JobPayloadPorts, JobPayloads } from "./scheduler/payloads.ts";
import { Wakeups } from "./scheduler/wakeups.ts";
import { WorkflowState } from "./scheduler/workflow-state.ts";

export interface SchedulerPorts extends Omit<JobPayloadPorts, "db"> {
  db: Db;
  logs: Pick<LogService, "finish" | "endSegment">;
  events: EventLog;
  now?: () => number;
  /** How long a lease lives after the last heartbeat (CAIRN_LEASE_TTL_MS; tests shorten it). */
  leaseTtlMs?: number;
}

export class Scheduler {
  readonly leases: Leases;
  readonly payloads: JobPayloads;
  readonly workflows: WorkflowState;
  private readonly wakeups = new Wakeups();

  constructor(ports: SchedulerPorts) {
    const { db, logs, events, now, leaseTtlMs, ...payloadPorts } = ports;
    this.payloads = new JobPayloads({ db, ...payloadPorts });
    this.workflows = new WorkflowState({ db, logs, events, now, wakeups: this.wakeups });
    this.leases = new Leases({
      db,
      logs,
      events,
      now,
      leaseTtlMs,
      payloads: this.payloads,
      workflows: this.workflows,
      wakeups: this.wakeups,
    });
  }

  /** Wakes builders waiting in acquire: new work may be there. */
  notify(): void {
    this.wakeups.notify();
  }

  acquire: Leases["acquire"] = (...a) => this.leases.acquire(...a);
  heartbeat: Leases["heartbeat"] = (...a) => this.leases.heartbeat(...a);
  uploaded: Leases["uploaded"] = (...a) => this.leases.uploaded(...a);
  reportStep: Leases["reportStep"] = (...a) => this.leases.reportStep(...a);
  finish: Leases["finish"] = (...a) => this.leases.finish(...a);
  expireLeases: Leases["expireLeases"] = () => this.leases.expireLeases();
  loseJobsOf: Leases["loseJobsOf"] = (...a) => this.leases.loseJobsOf(...a);

  approve: WorkflowState["approve"] = (...a) => this.workflows.approve(...a);
  cancel: WorkflowState["cancel"] = (...a) => this.workflows.cancel(...a);
  rerunWorkflow: WorkflowState["rerunWorkflow"] = (...a) => this.workflows.rerunWorkflow(...a);
  rerunJob: WorkflowState["rerunJob"] = (...a) => this.workflows.rerunJob(...a);
  advance: WorkflowState["advance"] = (...a) => this.workflows.advance(...a);
}
