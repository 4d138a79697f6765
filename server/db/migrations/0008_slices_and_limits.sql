ALTER TABLE `jobs` ADD `slice_index` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `jobs` ADD `slice_total` integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE `projects` ADD `max_concurrent_jobs` integer;