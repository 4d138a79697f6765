ALTER TABLE `jobs` ADD `superseded_by` text;--> statement-breakpoint
ALTER TABLE `jobs` ADD `avoid_builder_id` text;