ALTER TABLE `jobs` ADD `image_name` text;--> statement-breakpoint
ALTER TABLE `jobs` ADD `image_digest` text;