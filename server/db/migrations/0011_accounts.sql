ALTER TABLE `users` ADD `password_hash` text;--> statement-breakpoint
ALTER TABLE `users` ADD `github_login` text;--> statement-breakpoint
CREATE UNIQUE INDEX `users_github_login` ON `users` (`github_login`);