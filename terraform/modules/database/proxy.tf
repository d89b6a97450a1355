# RDS Proxy in front of the instance (optional): functions -> proxy -> database. TLS is
# required on every client connection. Two kinds of logins pass through it:
#   - the functions' login roles (error_sink, read_table, ...) sign an RDS IAM auth token
#     for the proxy (iam_auth REQUIRED); the proxy then logs in to PostgreSQL with that
#     role's password, from a secret of its own created here;
#   - the master user (migrate, reprocess_dead_letters) sends the password from the
#     RDS-managed master secret, which the proxy checks against the same secret.
# The proxy's pool holds at most max_connections_percent of the instance's
# max_connections; the root module's connection budget (connections.tf) is that figure.

locals {
  proxy       = var.create_proxy && var.create_instance
  proxy_users = local.proxy ? toset(var.proxy_login_users) : toset([])
}

resource "aws_security_group" "proxy" {
  #checkov:skip=CKV2_AWS_5:Attached to aws_db_proxy.this (vpc_security_group_ids) below; checkov's graph does not count RDS Proxy as a resource a group attaches to.
  count = local.proxy ? 1 : 0

  name        = "${var.name}-proxy"
  description = "RDS Proxy: PostgreSQL from the functions, to the database"
  vpc_id      = local.vpc_id

  ingress {
    description     = "PostgreSQL from the functions"
    protocol        = "tcp"
    from_port       = var.port
    to_port         = var.port
    security_groups = [aws_security_group.functions.id]
  }

  egress {
    description = "PostgreSQL to the database inside the VPC"
    protocol    = "tcp"
    from_port   = var.port
    to_port     = var.port
    cidr_blocks = [local.vpc_cidr]
  }

  egress {
    description = "HTTPS to the Secrets Manager endpoint inside the VPC"
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = [local.vpc_cidr]
  }

  tags = merge(var.tags, { Name = "${var.name}-proxy" })
}

################################################################################
# The login roles' passwords, known to the proxy and to PostgreSQL only
################################################################################

# Generated at apply time and written with a write-only argument: the password is never
# in the plan or the state. migrate sets each role's password from its secret.
ephemeral "aws_secretsmanager_random_password" "login" {
  for_each = local.proxy_users

  password_length     = 40
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "login" {
  #checkov:skip=CKV2_AWS_57:The password is used only between the proxy and PostgreSQL; rotating it needs the role's password changed in the same step, which migrate does from this secret. Bump login_password_version to rotate.
  for_each = local.proxy_users

  name                    = "${var.name}-db-login-${each.key}"
  description             = "PostgreSQL password of the login role ${each.key}, for RDS Proxy"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "login" {
  for_each = local.proxy_users

  secret_id = aws_secretsmanager_secret.login[each.key].id
  secret_string_wo = jsonencode({
    username = each.key
    password = ephemeral.aws_secretsmanager_random_password.login[each.key].random_password
  })
  secret_string_wo_version = var.login_password_version
}

################################################################################
# The proxy's role: read the secrets it logs in with
################################################################################

data "aws_iam_policy_document" "proxy_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "proxy" {
  count = local.proxy ? 1 : 0

  name               = "${var.name}-rds-proxy"
  assume_role_policy = data.aws_iam_policy_document.proxy_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "proxy" {
  count = local.proxy ? 1 : 0

  statement {
    sid     = "ReadLoginSecrets"
    actions = ["secretsmanager:GetSecretValue"]
    resources = concat(
      [aws_db_instance.this[0].master_user_secret[0].secret_arn],
      [for s in aws_secretsmanager_secret.login : s.arn],
    )
  }

  statement {
    sid       = "DecryptLoginSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "proxy" {
  count = local.proxy ? 1 : 0

  name   = "read-login-secrets"
  role   = aws_iam_role.proxy[0].id
  policy = data.aws_iam_policy_document.proxy[0].json
}

################################################################################
# Proxy, its pool, its target
################################################################################

resource "aws_db_proxy" "this" {
  count = local.proxy ? 1 : 0

  name                   = var.name
  engine_family          = "POSTGRESQL"
  require_tls            = true
  role_arn               = aws_iam_role.proxy[0].arn
  vpc_subnet_ids         = local.subnet_ids
  vpc_security_group_ids = [aws_security_group.proxy[0].id]
  idle_client_timeout    = var.proxy_idle_client_timeout
  debug_logging          = false

  auth {
    description               = "master user (migrate, reprocess_dead_letters): the password from the RDS-managed secret"
    auth_scheme               = "SECRETS"
    secret_arn                = aws_db_instance.this[0].master_user_secret[0].secret_arn
    iam_auth                  = "DISABLED"
    client_password_auth_type = "POSTGRES_SCRAM_SHA_256"
  }

  dynamic "auth" {
    for_each = aws_secretsmanager_secret.login
    content {
      description               = "login role ${auth.key}: an IAM auth token to the proxy"
      auth_scheme               = "SECRETS"
      secret_arn                = auth.value.arn
      iam_auth                  = "REQUIRED"
      client_password_auth_type = "POSTGRES_SCRAM_SHA_256"
    }
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.proxy, aws_secretsmanager_secret_version.login]
}

resource "aws_db_proxy_default_target_group" "this" {
  count = local.proxy ? 1 : 0

  db_proxy_name = aws_db_proxy.this[0].name

  connection_pool_config {
    max_connections_percent      = var.proxy_max_connections_percent
    max_idle_connections_percent = min(50, var.proxy_max_connections_percent)
    # A function waits this long for a pooled connection when all are busy; shorter than
    # the consumers' timeouts, so a full pool fails the batch (and Lambda retries it).
    connection_borrow_timeout = var.proxy_connection_borrow_timeout
  }
}

resource "aws_db_proxy_target" "this" {
  count = local.proxy ? 1 : 0

  db_proxy_name          = aws_db_proxy.this[0].name
  target_group_name      = aws_db_proxy_default_target_group.this[0].name
  db_instance_identifier = aws_db_instance.this[0].identifier
}
