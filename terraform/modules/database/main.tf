# PostgreSQL on RDS in private subnets, and the network around it: a security group
# for the functions that reach the database, one for the database that admits only
# those functions, and (when this module creates the VPC) flow logs and a Secrets
# Manager endpoint so functions read the master secret without internet access.

data "aws_partition" "current" {}

# Without pinned zones, subnets go to the first zones by name. A zone AWS adds later
# sorts after the existing ones, so it never moves a subnet; there is no state filter
# for the same reason (an impaired zone must not shift the list).
data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Only the first availability_zone_count zones by name are used, and a new zone sorts after them; set availability_zones to pin zones explicitly.
  count = var.create_vpc && length(var.availability_zones) == 0 ? 1 : 0
}

locals {
  vpc_id     = var.create_vpc ? aws_vpc.this[0].id : var.vpc_id
  vpc_cidr   = var.create_vpc ? aws_vpc.this[0].cidr_block : data.aws_vpc.given[0].cidr_block
  subnet_ids = var.create_vpc ? aws_subnet.private[*].id : var.subnet_ids
  zones = (length(var.availability_zones) > 0 ? var.availability_zones :
  slice(try(data.aws_availability_zones.available[0].names, []), 0, var.availability_zone_count))
}

################################################################################
# VPC (optional): private subnets only, no internet gateway or NAT
################################################################################

resource "aws_vpc" "this" {
  count = var.create_vpc ? 1 : 0

  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true # private DNS of interface endpoints

  tags = merge(var.tags, { Name = var.name })
}

resource "aws_subnet" "private" {
  count = var.create_vpc ? length(local.zones) : 0

  vpc_id                  = aws_vpc.this[0].id
  cidr_block              = cidrsubnet(var.vpc_cidr, 4, count.index)
  availability_zone       = local.zones[count.index]
  map_public_ip_on_launch = false

  tags = merge(var.tags, { Name = "${var.name}-private-${count.index}" })
}

# Nothing may use the default security group.
resource "aws_default_security_group" "this" {
  count = var.create_vpc ? 1 : 0

  vpc_id = aws_vpc.this[0].id
  tags   = merge(var.tags, { Name = "${var.name}-default-unused" })
}

data "aws_vpc" "given" {
  count = var.create_vpc ? 0 : 1
  id    = var.vpc_id
}

resource "aws_cloudwatch_log_group" "flow_logs" {
  count = var.create_vpc ? 1 : 0

  name              = "/aws/vpc-flow-logs/${var.name}"
  retention_in_days = var.flow_log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "flow_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "flow_logs" {
  count = var.create_vpc ? 1 : 0

  name               = "${var.name}-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "flow_logs" {
  count = var.create_vpc ? 1 : 0

  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow_logs[0].arn}:*"]
  }
}

resource "aws_iam_role_policy" "flow_logs" {
  count = var.create_vpc ? 1 : 0

  name   = "write-flow-logs"
  role   = aws_iam_role.flow_logs[0].id
  policy = data.aws_iam_policy_document.flow_logs[0].json
}

resource "aws_flow_log" "this" {
  count = var.create_vpc ? 1 : 0

  vpc_id               = aws_vpc.this[0].id
  traffic_type         = "ALL"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flow_logs[0].arn
  iam_role_arn         = aws_iam_role.flow_logs[0].arn
  tags                 = var.tags
}

################################################################################
# Security groups: functions -> database (port) and functions -> endpoints (443)
################################################################################

# Egress goes to the VPC's own range only: the database and the interface endpoints
# live there, and the database's ingress rule names this group.
resource "aws_security_group" "functions" {
  #checkov:skip=CKV2_AWS_5:Attached to the database functions' vpc_config in modules/function through this module's output, which checkov's graph does not follow across modules.
  name        = "${var.name}-functions"
  description = "Lambda functions that reach the database"
  vpc_id      = local.vpc_id

  egress {
    description = "PostgreSQL inside the VPC"
    protocol    = "tcp"
    from_port   = var.port
    to_port     = var.port
    cidr_blocks = [local.vpc_cidr]
  }

  egress {
    description = "HTTPS to interface endpoints inside the VPC (Secrets Manager)"
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = [local.vpc_cidr]
  }

  tags = merge(var.tags, { Name = "${var.name}-functions" })
}

# With a proxy, only the proxy reaches the database: functions -> proxy -> database. (The
# description is kept as first written: changing it would replace the group.)
resource "aws_security_group" "database" {
  name        = "${var.name}-database"
  description = "PostgreSQL, reachable only from the functions security group"
  vpc_id      = local.vpc_id

  ingress {
    description     = local.proxy ? "PostgreSQL from the RDS Proxy" : "PostgreSQL from the functions"
    protocol        = "tcp"
    from_port       = var.port
    to_port         = var.port
    security_groups = local.proxy ? [aws_security_group.proxy[0].id] : [aws_security_group.functions.id]
  }

  tags = merge(var.tags, { Name = "${var.name}-database" })
}

resource "aws_security_group" "endpoints" {
  count = var.create_secrets_manager_endpoint ? 1 : 0

  name        = "${var.name}-endpoints"
  description = "Interface VPC endpoints, reachable from the functions"
  vpc_id      = local.vpc_id

  ingress {
    description     = "HTTPS from the functions"
    protocol        = "tcp"
    from_port       = 443
    to_port         = 443
    security_groups = [aws_security_group.functions.id]
  }

  tags = merge(var.tags, { Name = "${var.name}-endpoints" })
}

data "aws_region" "current" {}

resource "aws_vpc_endpoint" "secretsmanager" {
  count = var.create_secrets_manager_endpoint ? 1 : 0

  vpc_id              = local.vpc_id
  service_name        = "com.amazonaws.${data.aws_region.current.name}.secretsmanager"
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  subnet_ids          = local.subnet_ids
  security_group_ids  = [aws_security_group.endpoints[0].id]
  tags                = merge(var.tags, { Name = "${var.name}-secretsmanager" })
}

################################################################################
# Instance
################################################################################

resource "aws_db_subnet_group" "this" {
  count = var.create_instance ? 1 : 0

  name        = var.name
  description = "Private subnets of ${var.name}"
  subnet_ids  = local.subnet_ids
  tags        = var.tags
}

resource "aws_db_parameter_group" "this" {
  count = var.create_instance ? 1 : 0

  name_prefix = "${var.name}-"
  family      = "postgres${split(".", var.engine_version)[0]}"
  description = "Parameters of ${var.name}"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  # An orphaned transaction (an invocation that timed out mid-transaction, its backend still alive) must not
  # hold the locks its retry needs: the server ends a transaction left idle, and notices a client that
  # vanished (a frozen or killed Lambda) within a minute. The functions ask the same of their own sessions
  # (shared/db.py SESSION_OPTIONS); here it holds for every session, whoever opened it.
  parameter {
    name  = "idle_in_transaction_session_timeout"
    value = "30000"
  }

  parameter {
    name  = "tcp_keepalives_idle"
    value = "30"
  }

  parameter {
    name  = "tcp_keepalives_interval"
    value = "10"
  }

  parameter {
    name  = "tcp_keepalives_count"
    value = "3"
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

data "aws_iam_policy_document" "monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  count = var.create_instance && var.monitoring_interval > 0 ? 1 : 0

  name               = "${var.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.monitoring_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  count = var.create_instance && var.monitoring_interval > 0 ? 1 : 0

  role       = aws_iam_role.monitoring[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# Created ahead of the instance so the exported logs get retention and encryption.
resource "aws_cloudwatch_log_group" "postgresql" {
  for_each = var.create_instance ? toset(["postgresql", "upgrade"]) : toset([])

  name              = "/aws/rds/instance/${var.name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_db_instance" "this" {
  count = var.create_instance ? 1 : 0

  identifier     = var.name
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class
  port           = var.port
  db_name        = var.database_name

  username                      = var.master_username
  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.kms_key_arn

  storage_type          = "gp3"
  allocated_storage     = var.allocated_storage
  max_allocated_storage = var.max_allocated_storage
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  db_subnet_group_name   = aws_db_subnet_group.this[0].name
  vpc_security_group_ids = [aws_security_group.database.id]
  publicly_accessible    = false
  multi_az               = var.multi_az
  parameter_group_name   = aws_db_parameter_group.this[0].name
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  iam_database_authentication_enabled = var.iam_database_authentication
  auto_minor_version_upgrade          = true
  allow_major_version_upgrade         = false
  apply_immediately                   = false

  backup_retention_period   = var.backup_retention_days
  backup_window             = "02:00-03:00"
  maintenance_window        = "sun:03:30-sun:04:30"
  copy_tags_to_snapshot     = true
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = var.skip_final_snapshot
  final_snapshot_identifier = var.skip_final_snapshot ? null : "${var.name}-final"
  delete_automated_backups  = false

  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]
  monitoring_interval                   = var.monitoring_interval
  monitoring_role_arn                   = var.monitoring_interval > 0 ? aws_iam_role.monitoring[0].arn : null
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = var.kms_key_arn
  performance_insights_retention_period = var.performance_insights_retention_days

  tags = var.tags

  depends_on = [aws_cloudwatch_log_group.postgresql, aws_iam_role_policy_attachment.monitoring]
}
