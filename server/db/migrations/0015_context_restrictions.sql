CREATE TABLE `context_restrictions` (
	`id` text PRIMARY KEY NOT NULL,
	`context_id` text NOT NULL,
	`restriction_type` text NOT NULL,
	`restriction_value` text NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`context_id`) REFERENCES `contexts`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `context_restrictions_unique` ON `context_restrictions` (`context_id`,`restriction_type`,`restriction_value`);