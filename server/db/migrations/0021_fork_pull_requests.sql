ALTER TABLE `jobs` ADD `fork_secrets` text;--> statement-breakpoint
ALTER TABLE `pipelines` ADD `from_fork` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `projects` ADD `pass_secrets_to_forks` integer DEFAULT false NOT NULL;