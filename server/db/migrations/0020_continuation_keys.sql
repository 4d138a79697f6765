CREATE TABLE `continuation_keys` (
	`key_hash` text PRIMARY KEY NOT NULL,
	`pipeline_id` text NOT NULL,
	`job_id` text NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`used_at` integer,
	FOREIGN KEY (`pipeline_id`) REFERENCES `pipelines`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `continuation_keys_pipeline` ON `continuation_keys` (`pipeline_id`);