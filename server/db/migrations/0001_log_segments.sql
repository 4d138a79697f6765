CREATE TABLE `log_raw` (
	`job_id` text NOT NULL,
	`offset` integer NOT NULL,
	`envelope` text NOT NULL,
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `log_raw_job_offset` ON `log_raw` (`job_id`,`offset`);--> statement-breakpoint
ALTER TABLE `jobs` ADD `log_segment_offset` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `jobs` ADD `log_segment_lines` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `jobs` ADD `log_archived_at` integer;