CREATE TABLE `schedules` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`source` text NOT NULL,
	`name` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`cron` text NOT NULL,
	`timetable` text,
	`branch` text,
	`tag` text,
	`parameters` text DEFAULT '{}' NOT NULL,
	`actor_id` text,
	`workflow` text,
	`next_run_at` integer NOT NULL,
	`last_run_at` integer,
	`last_pipeline_id` text,
	`last_error` text,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `schedules_project` ON `schedules` (`project_id`);--> statement-breakpoint
CREATE INDEX `schedules_due` ON `schedules` (`next_run_at`);