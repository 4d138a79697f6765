CREATE TABLE `pipeline_requests` (
	`project_id` text NOT NULL,
	`key` text NOT NULL,
	`pipeline_id` text NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `pipeline_requests_project_key` ON `pipeline_requests` (`project_id`,`key`);--> statement-breakpoint
CREATE TABLE `webhook_deliveries` (
	`project_id` text NOT NULL,
	`delivery_id` text NOT NULL,
	`event` text NOT NULL,
	`pipeline_id` text,
	`received_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `webhook_deliveries_project_delivery` ON `webhook_deliveries` (`project_id`,`delivery_id`);--> statement-breakpoint
ALTER TABLE `pipelines` ADD `metadata` text;--> statement-breakpoint
ALTER TABLE `projects` ADD `branch_filters` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `projects` ADD `webhook_secret` text;--> statement-breakpoint
ALTER TABLE `projects` ADD `forge` text;--> statement-breakpoint
ALTER TABLE `projects` ADD `forge_token` text;--> statement-breakpoint
ALTER TABLE `projects` ADD `known_hosts` text;--> statement-breakpoint
ALTER TABLE `projects` ADD `deploy_key_public` text;--> statement-breakpoint
ALTER TABLE `projects` ADD `deploy_key_fingerprint` text;--> statement-breakpoint
ALTER TABLE `projects` ADD `deploy_key_private` text;--> statement-breakpoint
ALTER TABLE `projects` ADD `deploy_key_forge_id` text;