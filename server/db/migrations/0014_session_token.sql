ALTER TABLE `sessions` ADD `token_id` text;--> statement-breakpoint
CREATE INDEX `sessions_token` ON `sessions` (`token_id`);