CREATE TABLE `orb_versions` (
	`id` text PRIMARY KEY NOT NULL,
	`namespace` text NOT NULL,
	`name` text NOT NULL,
	`version` text NOT NULL,
	`body` text NOT NULL,
	`digest` text NOT NULL,
	`published_by` text NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `orb_versions_ref` ON `orb_versions` (`namespace`,`name`,`version`);--> statement-breakpoint
ALTER TABLE `pipelines` ADD `config_errors` text;--> statement-breakpoint
ALTER TABLE `pipelines` ADD `orbs` text;