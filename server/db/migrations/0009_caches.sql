CREATE TABLE `artifacts` (
	`id` text PRIMARY KEY NOT NULL,
	`job_id` text NOT NULL,
	`path` text NOT NULL,
	`size` integer NOT NULL,
	`blob_key` text NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `artifacts_job_path` ON `artifacts` (`job_id`,`path`);--> statement-breakpoint
CREATE TABLE `caches` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`key` text NOT NULL,
	`blob_key` text NOT NULL,
	`size` integer NOT NULL,
	`job_id` text NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `caches_project_key` ON `caches` (`project_id`,`key`);--> statement-breakpoint
CREATE INDEX `caches_project_created` ON `caches` (`project_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `test_results` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`job_id` text NOT NULL,
	`project_id` text NOT NULL,
	`suite` text DEFAULT '' NOT NULL,
	`name` text NOT NULL,
	`classname` text DEFAULT '' NOT NULL,
	`file` text,
	`time` real DEFAULT 0 NOT NULL,
	`status` text NOT NULL,
	`message` text,
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `test_results_job` ON `test_results` (`job_id`);--> statement-breakpoint
CREATE INDEX `test_results_project` ON `test_results` (`project_id`,`id`);--> statement-breakpoint
CREATE TABLE `workspace_layers` (
	`id` text PRIMARY KEY NOT NULL,
	`workflow_id` text NOT NULL,
	`job_id` text NOT NULL,
	`blob_key` text NOT NULL,
	`size` integer NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`workflow_id`) REFERENCES `workflows`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `workspace_layers_workflow` ON `workspace_layers` (`workflow_id`,`created_at`);