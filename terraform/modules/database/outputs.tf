output "vpc_id" {
  description = "VPC of the database and of the functions that reach it."
  value       = local.vpc_id
}

output "subnet_ids" {
  description = "Private subnets for the database and the VPC functions."
  value       = local.subnet_ids
}

output "function_security_group_id" {
  description = "Security group to attach to functions that reach the database."
  value       = aws_security_group.functions.id
}

output "database_security_group_id" {
  description = "Security group of the database instance."
  value       = aws_security_group.database.id
}

output "db_instance_identifier" {
  description = "RDS instance identifier, or null when no instance is created."
  value       = try(aws_db_instance.this[0].identifier, null)
}

output "db_instance_address" {
  description = "Host name of the database, or null when no instance is created."
  value       = try(aws_db_instance.this[0].address, null)
}

output "db_instance_port" {
  description = "Port of the database."
  value       = var.port
}

output "db_name" {
  description = "Name of the application database."
  value       = var.database_name
}

output "master_user_secret_arn" {
  description = "ARN of the Secrets Manager secret that RDS manages for the master user, or null when no instance is created."
  value       = try(aws_db_instance.this[0].master_user_secret[0].secret_arn, null)
}

output "db_resource_id" {
  description = "The instance's resource id (db-...), the part of an rds-db:connect ARN naming the instance; null when no instance is created."
  value       = try(aws_db_instance.this[0].resource_id, null)
}

output "iam_database_authentication" {
  description = "Whether the instance accepts RDS IAM auth tokens."
  value       = var.iam_database_authentication
}

output "proxy_endpoint" {
  description = "Host name of the RDS Proxy, or null without one."
  value       = try(aws_db_proxy.this[0].endpoint, null)
}

output "proxy_resource_id" {
  description = "The proxy's resource id (prx-...), the part of an rds-db:connect ARN naming the proxy; null without one."
  value       = try(element(split(":", aws_db_proxy.this[0].arn), 6), null)
}

output "proxy_security_group_id" {
  description = "Security group of the RDS Proxy, or null without one."
  value       = try(aws_security_group.proxy[0].id, null)
}

output "login_secret_arns" {
  description = "Secrets Manager ARNs of the login roles' passwords (the proxy's logins), by role; empty without a proxy."
  value       = { for k, s in aws_secretsmanager_secret.login : k => s.arn }
}
